-- Question: how do runs end, per team type?
-- Columns:  team_type (agentsquad | ouroboros | research | NULL for no team),
--           outcome (success | failure | error | cancelled | timeout | NULL while running),
--           state (running | finished), runs (run attempts), median_duration_s.
-- Reading:  one row per (team_type, outcome); compare failure share across team types.
--           A run attempt counts once (v_runs rolls run.started + run.finished up).
SELECT
    team_type,
    outcome,
    state,
    count() AS runs,
    round(median(duration_ms) / 1000, 1) AS median_duration_s
FROM v_runs
GROUP BY team_type, outcome, state
ORDER BY team_type, outcome
