/* proofstream proof pages: draws the page's JSON (script#page-data) with Apache ECharts.
 *
 * Every string in the data came from an event, i.e. from a producer: it reaches the
 * DOM through textContent or ECharts' own text drawing (SVG text nodes), and the
 * tooltips, which ECharts takes as HTML, escape it with esc(). No network, no eval.
 * When every chart has finished drawing, <html data-drawn="N"> says how many did
 * (the browser tests wait on it); window.proofPage holds the charts and the data.
 */
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("page-data").textContent);
  var charts = {};
  var pending = [];

  var COLORS = {
    ok: "#4b6584",
    failed: "#d63031",
    verified: "#1e9e57",
    unverified: "#d63031",
    gap: "#d63031"
  };
  var EDGES = {
    next: { color: "#a4b0be", width: 1.2, type: "solid", curveness: 0 },
    caused: { color: "#8e44ad", width: 1.5, type: "solid", curveness: 0.15 },
    closes: { color: "#2e86de", width: 2, type: "dashed", curveness: 0.25 },
    proves: { color: "#1e9e57", width: 2.5, type: "solid", curveness: 0.3 },
    claims: { color: "#d63031", width: 2, type: "dotted", curveness: 0.3 },
    gap: { color: "#d63031", width: 2.5, type: "dashed", curveness: 0 }
  };
  var SYMBOLS = {
    issue: "roundRect",
    run: "circle",
    handoff: "arrow",
    workspace: "rect",
    tool: "circle",
    browser: "rect",
    "pull request": "diamond",
    evidence: "pin",
    other: "circle"
  };

  function esc(value) {
    return String(value === null || value === undefined ? "" : value)
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      .replace(/'/g, "&#39;");
  }

  function iso(ms) {
    return ms === null || ms === undefined ? "—" : new Date(ms).toISOString().replace(".000Z", "Z");
  }

  function clock(ms, previous) {
    var text = iso(ms);
    var sameDay = previous !== null && iso(previous).slice(0, 10) === text.slice(0, 10);
    return sameDay ? text.slice(11, 19) : text.slice(5, 10) + "\n" + text.slice(11, 19);
  }

  function start(id) {
    var el = document.getElementById(id);
    if (!el) {
      return null;
    }
    var chart = echarts.init(el, "proof", { renderer: "svg" });
    charts[id] = chart;
    pending.push(
      new Promise(function (resolve) {
        chart.on("finished", resolve);
      })
    );
    return chart;
  }

  function detailTip(node) {
    var rows = node.detail
      .map(function (kv) {
        return "<tr><th>" + esc(kv[0]) + "</th><td>" + esc(kv[1]) + "</td></tr>";
      })
      .join("");
    return (
      '<div class="tip"><b>' + esc(node.label) + "</b><br>" + esc(iso(node.at)) +
      "<table>" + rows + "</table></div>"
    );
  }

  function openEvidence(eventId) {
    var found = null;
    document.querySelectorAll("details[data-event]").forEach(function (el) {
      if (el.getAttribute("data-event") === eventId) {
        found = found || el;
      }
    });
    if (found) {
      found.open = true;
      found.scrollIntoView({ block: "center" });
    }
  }

  /* A chain: one column per event in time order, one row per lane; lines between. */
  function drawChain(id, page) {
    var nodes = page.nodes;
    var chart = start(id);
    if (!chart || !nodes.length) {
      return;
    }
    var lanes = page.lanes;
    var laneOf = {};
    lanes.forEach(function (lane, i) {
      laneOf[lane] = i;
    });
    var el = document.getElementById(id);
    var slot = Math.max(40, (el.clientWidth - 140) / nodes.length);
    var seen = {};
    var items = nodes.map(function (node, i) {
      seen[node.lane] = (seen[node.lane] || 0) + 1;
      var mark = node.type === "evidence.recorded" || node.status === "gap";
      return {
        name: node.id,
        value: [i, laneOf[node.lane]],
        node: node,
        symbol: SYMBOLS[node.lane] || "circle",
        symbolSize: mark ? 22 : node.lane === "tool" ? 10 + Math.min(10, node.detail.length) : 14,
        itemStyle: { color: COLORS[node.status] || COLORS.ok, borderColor: "#fff", borderWidth: 1 },
        label: {
          show: true,
          position: seen[node.lane] % 2 ? "top" : "bottom",
          formatter: function () {
            return node.label;
          },
          // marks are read whole; the other labels give way to their neighbours
          width: mark ? undefined : Math.max(slot * 1.9, 60),
          overflow: mark ? "none" : "truncate",
          fontSize: mark ? 12 : 10,
          fontWeight: mark ? "bold" : "normal",
          color: mark ? COLORS[node.status] : "#2f3640"
        }
      };
    });
    var links = page.edges.map(function (edge) {
      var style = EDGES[edge.kind] || EDGES.next;
      return {
        source: edge.source,
        target: edge.target,
        kind: edge.kind,
        lineStyle: {
          color: style.color,
          width: style.width,
          type: style.type,
          curveness: style.curveness,
          opacity: 0.9
        }
      };
    });
    chart.setOption({
      animation: false,
      grid: { left: 100, right: 120, top: 30, bottom: 60 },
      tooltip: {
        trigger: "item",
        confine: true,
        formatter: function (params) {
          if (params.dataType === "edge") {
            return esc(params.data.kind);
          }
          return detailTip(params.data.node);
        }
      },
      xAxis: {
        type: "category",
        boundaryGap: true,
        data: nodes.map(function (node, i) {
          return clock(node.at, i ? nodes[i - 1].at : null);
        }),
        axisLabel: { fontSize: 9, lineHeight: 12, interval: "auto", color: "#57606f" },
        splitLine: { show: false }
      },
      yAxis: {
        type: "category",
        inverse: true,
        data: lanes,
        axisLabel: { fontWeight: "bold", color: "#2f3640" },
        splitLine: { show: true, lineStyle: { color: "#eef1f4" } }
      },
      series: [
        {
          type: "graph",
          coordinateSystem: "cartesian2d",
          layout: "none",
          data: items,
          links: links,
          edgeSymbol: ["none", "arrow"],
          edgeSymbolSize: 7,
          labelLayout: { hideOverlap: false },
          emphasis: { focus: "adjacency", lineStyle: { width: 3 } }
        }
      ]
    });
    chart.on("click", function (params) {
      if (params.dataType !== "node") {
        return;
      }
      var node = params.data.node;
      if (node.type === "evidence.recorded") {
        openEvidence(node.id);
      } else if (node.status === "gap") {
        var gap = document.getElementById("proof-gap");
        if (gap) {
          gap.scrollIntoView({ block: "center" });
        }
      }
    });
  }

  /* Run page: leases and the run as bars over real time; tool calls as dots. */
  function drawGantt(id, page) {
    var chart = start(id);
    if (!chart) {
      return;
    }
    var rows = ["run", "workspace", "browser", "tool calls"];
    var last = page.finished || (page.nodes.length ? page.nodes[page.nodes.length - 1].at : 0);
    var bars = [];
    if (page.started !== null) {
      bars.push({ value: [0, page.started, page.finished || last, page.run], color: "#4b6584" });
    }
    page.spans.forEach(function (span) {
      bars.push({
        value: [rows.indexOf(span.lane), span.start, span.end || last, span.label],
        color: span.lane === "browser" ? "#2e86de" : "#8e44ad"
      });
    });
    chart.setOption({
      animation: false,
      grid: { left: 100, right: 40, top: 20, bottom: 40 },
      tooltip: {
        trigger: "item",
        confine: true,
        formatter: function (params) {
          if (params.seriesIndex === 0) {
            var v = params.data.value;
            return esc(v[3]) + "<br>" + esc(iso(v[1])) + " → " + esc(iso(v[2]));
          }
          var call = params.data.call;
          return (
            esc(call.server + "/" + call.tool) + "<br>" + esc(call.ms) + " ms · " +
            esc(call.outcome) + (call.retries ? " · " + esc(call.retries) + " retries" : "") +
            "<br>" + esc(iso(call.at))
          );
        }
      },
      xAxis: { type: "time", axisLabel: { fontSize: 10 } },
      yAxis: { type: "category", data: rows, inverse: true },
      series: [
        {
          type: "custom",
          encode: { x: [1, 2], y: 0 },
          renderItem: function (params, api) {
            var from = api.coord([api.value(1), api.value(0)]);
            var to = api.coord([api.value(2), api.value(0)]);
            var height = api.size([0, 1])[1] * 0.45;
            return {
              type: "rect",
              shape: {
                x: from[0],
                y: from[1] - height / 2,
                width: Math.max(2, to[0] - from[0]),
                height: height
              },
              style: api.style()
            };
          },
          data: bars.map(function (bar) {
            return { value: bar.value, itemStyle: { color: bar.color, opacity: 0.8 } };
          }),
          label: {
            show: true,
            position: "insideLeft",
            color: "#fff",
            formatter: function (params) {
              return String(params.data.value[3]);
            }
          }
        },
        {
          type: "scatter",
          data: page.calls.map(function (call) {
            return {
              value: [call.at, 3],
              call: call,
              symbolSize: 6 + Math.min(18, Math.sqrt(call.ms) / 6),
              itemStyle: { color: call.outcome === "success" ? "#1e9e57" : "#d63031" }
            };
          })
        }
      ]
    });
  }

  function drawTools(id, page) {
    var chart = start(id);
    if (!chart) {
      return;
    }
    var calls = page.calls;
    chart.setOption({
      animation: false,
      grid: { left: 70, right: 30, top: 20, bottom: 90 },
      tooltip: {
        trigger: "item",
        formatter: function (params) {
          var call = calls[params.dataIndex];
          return esc(call.server + "/" + call.tool) + "<br>" + esc(call.ms) + " ms · " +
            esc(call.outcome) + "<br>" + esc(iso(call.at));
        }
      },
      xAxis: {
        type: "category",
        data: calls.map(function (call) {
          return call.server + "/" + call.tool;
        }),
        axisLabel: { rotate: 35, fontSize: 10 }
      },
      yAxis: { type: "value", name: "ms" },
      series: [
        {
          type: "bar",
          data: calls.map(function (call) {
            return {
              value: call.ms,
              itemStyle: { color: call.outcome === "success" ? "#4b6584" : "#d63031" }
            };
          }),
          label: {
            show: true,
            position: "top",
            fontSize: 9,
            formatter: function (params) {
              var call = calls[params.dataIndex];
              return call.outcome === "success" ? "" : "✗ " + call.outcome;
            }
          }
        }
      ]
    });
  }

  function byProject(points) {
    var out = {};
    points.forEach(function (p) {
      (out[p.project] = out[p.project] || []).push(p);
    });
    return out;
  }

  function drawCoverage(id, page) {
    var chart = start(id);
    if (!chart) {
      return;
    }
    var projects = byProject(page.coverage);
    var series = Object.keys(projects).sort().map(function (project) {
      var merged = 0;
      var proven = 0;
      return {
        name: project,
        type: "line",
        step: "end",
        showSymbol: true,
        data: projects[project].map(function (p) {
          merged += p.merged;
          proven += p.proven;
          return {
            value: [p.at, Math.round((1000 * proven) / merged) / 10],
            counts: [proven, merged]
          };
        })
      };
    });
    chart.setOption({
      animation: false,
      legend: { top: 0 },
      grid: { left: 50, right: 20, top: 40, bottom: 40 },
      tooltip: {
        trigger: "item",
        formatter: function (params) {
          var c = params.data.counts;
          return esc(params.seriesName) + "<br>" + esc(iso(params.data.value[0])) + "<br>" +
            esc(c[0]) + " of " + esc(c[1]) + " merges proven (" + esc(params.data.value[1]) + " %)";
        }
      },
      xAxis: { type: "time" },
      yAxis: { type: "value", min: 0, max: 100, name: "% proven (cumulative)" },
      series: series
    });
  }

  function drawUnproven(id, page) {
    var chart = start(id);
    if (!chart) {
      return;
    }
    var projects = byProject(page.coverage);
    chart.setOption({
      animation: false,
      legend: { top: 0 },
      grid: { left: 50, right: 20, top: 40, bottom: 40 },
      tooltip: { trigger: "item" },
      xAxis: { type: "time" },
      yAxis: { type: "value", minInterval: 1, name: "merges" },
      series: Object.keys(projects).sort().map(function (project) {
        return {
          name: project,
          type: "bar",
          stack: "unproven",
          barMaxWidth: 28,
          data: projects[project].map(function (p) {
            return [p.at, p.merged - p.proven];
          })
        };
      })
    });
  }

  function drawLatency(id, page) {
    var chart = start(id);
    if (!chart) {
      return;
    }
    var tools = page.tools.slice().reverse();
    chart.setOption({
      animation: false,
      legend: { top: 0 },
      grid: { left: 170, right: 40, top: 40, bottom: 30 },
      tooltip: {
        trigger: "item",
        formatter: function (params) {
          var t = tools[params.dataIndex];
          return esc(t.server + "/" + t.tool) + "<br>" + esc(t.calls) + " calls · p50 " +
            esc(t.p50) + " ms · p95 " + esc(t.p95) + " ms<br>failure rate " +
            esc(Math.round(t.failures * 1000) / 10) + " %";
        }
      },
      xAxis: { type: "value", name: "ms" },
      yAxis: {
        type: "category",
        data: tools.map(function (t) {
          return t.server + "/" + t.tool;
        })
      },
      series: [
        { name: "p50", type: "bar", itemStyle: { color: "#a4b0be" }, data: tools.map(function (t) { return t.p50; }) },
        {
          name: "p95",
          type: "bar",
          itemStyle: { color: "#4b6584" },
          data: tools.map(function (t) {
            return { value: t.p95, itemStyle: { color: t.failures > 0.2 ? "#d63031" : "#4b6584" } };
          }),
          label: {
            show: true,
            position: "right",
            fontSize: 10,
            formatter: function (params) {
              var t = tools[params.dataIndex];
              return t.p95 + " ms" + (t.failures ? " · " + Math.round(t.failures * 100) + "% failed" : "");
            }
          }
        }
      ]
    });
  }

  function drawLag(id, page) {
    var chart = start(id);
    if (!chart) {
      return;
    }
    var planes = page.planes;
    chart.setOption({
      animation: false,
      grid: { left: 60, right: 20, top: 20, bottom: 40 },
      tooltip: {
        trigger: "item",
        formatter: function (params) {
          var p = planes[params.dataIndex];
          return esc(p.name) + "<br>lag " + esc(p.lag === null ? "unknown" : p.lag) + "<br>" + esc(p.health);
        }
      },
      xAxis: {
        type: "category",
        data: planes.map(function (p) {
          return p.name;
        })
      },
      yAxis: { type: "value", minInterval: 1, name: "records" },
      series: [
        {
          type: "bar",
          barMaxWidth: 40,
          data: planes.map(function (p) {
            return {
              value: p.lag === null ? 0 : p.lag,
              itemStyle: { color: p.lag === 0 ? "#1e9e57" : p.lag === null ? "#a4b0be" : "#e1a40b" }
            };
          }),
          label: {
            show: true,
            position: "top",
            formatter: function (params) {
              var p = planes[params.dataIndex];
              return p.lag === null ? "?" : String(p.lag);
            }
          }
        }
      ]
    });
  }

  var PALETTE = ["#2e86de", "#8e44ad", "#e1a40b", "#16a085", "#c0392b", "#7f8c8d"];
  echarts.registerTheme("proof", { color: PALETTE });

  var pages = {
    pr: function (page) {
      drawChain("chain", page);
    },
    run: function (page) {
      drawChain("timeline", page);
      drawGantt("gantt", page);
      drawTools("tools", page);
    },
    overview: function (page) {
      drawCoverage("coverage", page);
      drawUnproven("unproven", page);
      drawLatency("latency", page);
      drawLag("lag", page);
    },
    message: function () {}
  };

  (pages[data.page] || pages.message)(data);
  window.proofPage = { charts: charts, data: data };
  window.addEventListener("resize", function () {
    Object.keys(charts).forEach(function (id) {
      charts[id].resize();
    });
  });
  Promise.all(pending).then(function () {
    document.documentElement.setAttribute("data-drawn", String(Object.keys(charts).length));
  });
})();
