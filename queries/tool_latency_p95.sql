-- Question: which MCP tools are slow?
-- Columns:  mcp_server, tool, calls, p50_ms, p95_ms (exact: an observed duration,
--           quantileExact), max_ms, failure_rate (share of calls whose outcome is not
--           'success').
-- Reading:  one row per server/tool, slowest p95 first. Durations are per call as the
--           agent measured them (tool.invoked.duration_ms); retries are inside a call.
SELECT
    mcp_server,
    tool,
    count() AS calls,
    quantileExact(0.5)(duration_ms) AS p50_ms,
    quantileExact(0.95)(duration_ms) AS p95_ms,
    max(duration_ms) AS max_ms,
    round(countIf(outcome != 'success') / count(), 4) AS failure_rate
FROM tool_calls FINAL
GROUP BY mcp_server, tool
ORDER BY p95_ms DESC, mcp_server, tool
