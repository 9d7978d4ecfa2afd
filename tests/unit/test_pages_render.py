"""The pages' HTML (pure): hostile event text stays text, a report needs no network,
the CSP admits exactly the page's own scripts, marks and gaps are in the markup."""

from __future__ import annotations

import base64
import hashlib
import json
import re

from proofstream.pages.assets import asset, echarts_version
from proofstream.pages.model import Overview, PlaneLag, ToolLatency
from proofstream.pages.overview_page import render_overview
from proofstream.pages.pr_page import render_pr
from proofstream.pages.render import AssetMode, Links, data_json
from proofstream.pages.run_page import render_run
from proofstream.pages.serve import served_links
from proofstream.pages.timeline import build_run_timeline
from tests.pages_support import HOSTILE, chain, failed, pr_rows

_DATA = re.compile(r'<script type="application/json" id="page-data">(.*?)</script>', re.S)
_SCRIPTS = re.compile(r"<script>(.*?)</script>", re.S)


def _markup(page: str) -> str:
    """The page without its style and scripts (whose own text may hold anything)."""
    page = re.sub(r"<style>.*?</style>", "<style></style>", page, flags=re.S)
    return _SCRIPTS.sub("<script></script>", page)


def _data(page: str) -> dict[str, object]:
    match = _DATA.search(page)
    assert match, "no page data"
    loaded: dict[str, object] = json.loads(match.group(1))
    return loaded


def test_a_hostile_title_is_text_in_the_html_and_in_the_data() -> None:
    page = render_pr(chain(HOSTILE), Links(), AssetMode.INLINE)
    body = page.split("<main>", 1)[1].split("</main>", 1)[0]
    assert "<img" not in _markup(page) and "alert(1)</script>" not in page
    assert "onerror=alert(2)&gt;" in body  # escaped, visible as text
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in body
    match = _DATA.search(page)
    assert match and "<" not in match.group(1) and "\u2028" not in match.group(1)
    detail = _data(page)["nodes"][5]["detail"]  # type: ignore[index]
    titles = [value for key, value in detail if key == "title"]
    assert titles == [HOSTILE]  # JSON.parse gives back exactly what the event said


def test_data_json_can_never_end_its_script_element() -> None:
    text = data_json({"t": "</script><!--", "u": "\u2028", "a": "&"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"t": "</script><!--", "u": "\u2028", "a": "&"}


def test_a_report_references_nothing_on_the_network() -> None:
    for page in (
        render_pr(chain(), Links(), AssetMode.INLINE),
        render_run(
            build_run_timeline(
                "run-0000", pr_rows(), marks={}, checkpoint=None, log_error=None, limit=99
            ),
            Links(),
            AssetMode.INLINE,
        ),
    ):
        html_only = _markup(page)
        assert not re.search(r"<script[^>]*\ssrc=", html_only)
        assert not re.search(r"<link[^>]*\shref=", html_only)
        assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html_only, re.I)
        assert not re.search(r"@import|url\(\s*['\"]?https?:", page, re.I)
        assert "connect-src 'none'" in page and "default-src 'none'" in page


def test_the_csp_admits_exactly_the_inlined_scripts() -> None:
    page = render_pr(chain(), Links(), AssetMode.INLINE)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp
    allowed = set(re.findall(r"'sha256-([^']+)'", csp.group(1)))
    inline = [m.group(1) for m in _SCRIPTS.finditer(page)]
    hashes = {base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() for s in inline}
    assert len(inline) == 2 and hashes == allowed
    assert inline[0] == asset("echarts.min.js").text and inline[1] == asset("pages.js").text
    assert "'unsafe-eval'" not in page and "script-src 'self'" not in page


def test_served_pages_link_their_scripts_and_other_pages() -> None:
    page = render_pr(chain(), served_links(), AssetMode.LINKED)
    assert '<script src="/pages/assets/echarts.min.js"></script>' in page
    assert "script-src 'self'" in page
    assert '<a href="/pages/run/run-0000">run-0000</a>' in page
    assert '<a href="/pages/" class="nav">overview</a>' in page
    assert "echarts.min.js" not in render_pr(chain(), Links(), AssetMode.INLINE).split("<main>")[0]


def test_marks_gaps_and_proofs_are_in_the_markup() -> None:
    green = render_pr(chain(), Links(), AssetMode.INLINE)
    assert 'data-mark="verified"' in green and 'class="verdict good"' in green
    assert "1 of 1 evidence artifacts verified in the log" in green
    assert "<code>" + "01" * 32 + "</code>" in green  # the audit path, on demand
    red = render_pr(chain(mark=failed()), Links(), AssetMode.INLINE)
    assert 'data-mark="failed"' in red and "INCLUSION PROOF FAILED for leaf 7" in red
    assert 'class="verdict bad"' in red and 'data-mark="verified"' not in _markup(red)
    gap = render_pr(chain(proof=False), Links(), AssetMode.INLINE)
    assert 'id="proof-gap"' in gap and "PROOF GAP: merged without browser proof" in gap
    assert _data(gap)["nodes"][-1]["status"] == "gap"  # type: ignore[index]


def test_the_overview_carries_its_chart_data() -> None:
    overview = Overview(
        generated_at_ms=0,
        bucket="hour",
        coverage=(),
        unproven=(),
        unproven_total=0,
        tools=(ToolLatency("github", "<b>x</b>", 3, 1.0, 2.0, 0.5),),
        planes=(PlaneLag("facts", 0, "ok"),),
    )
    page = render_overview(overview, Links(), AssetMode.INLINE)
    data = _data(page)
    assert data["page"] == "overview" and data["planes"] == [
        {"name": "facts", "lag": 0, "health": "ok"}
    ]
    assert data["tools"][0]["tool"] == "<b>x</b>"  # type: ignore[index]
    assert "<b>x</b>" not in page
    assert f"Apache ECharts {echarts_version()['version']}" in page
