-- Question: how does work flow between agent roles?
-- Columns:  from_role, to_role, team_type, handoffs (agent.handoff events), runs (distinct
--           runs with such a handoff).
-- Reading:  one row per edge of the role graph, busiest first; many handoffs per run on an
--           edge hint at ping-pong between two roles.
SELECT
    from_role,
    to_role,
    team_type,
    count() AS handoffs,
    uniqExact(run_id) AS runs
FROM handoffs FINAL
GROUP BY from_role, to_role, team_type
ORDER BY handoffs DESC, from_role, to_role
