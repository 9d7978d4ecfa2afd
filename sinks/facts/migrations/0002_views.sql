-- Analyst views over the facts tables. FINAL collapses re-delivered events.

-- One row per run attempt: who ran it, how it ended, how long it took.
-- state is 'running' until a run.finished arrives.
CREATE VIEW IF NOT EXISTS v_runs AS
SELECT
    project,
    run_id,
    attempt,
    anyIf(team_type, event_type = 'run.started') AS team_type,
    anyIf(actor_role, event_type = 'run.started') AS actor_role,
    minIf(occurred_at, event_type = 'run.started') AS started_at,
    maxIfOrNull(occurred_at, event_type = 'run.finished') AS finished_at,
    if(countIf(event_type = 'run.finished') > 0, 'finished', 'running') AS state,
    argMaxIf(outcome, occurred_at, event_type = 'run.finished') AS outcome,
    argMaxIf(duration_ms, occurred_at, event_type = 'run.finished') AS duration_ms
FROM runs FINAL
GROUP BY project, run_id, attempt;

-- Merged pull requests with the issue they close (see sinks.facts.closes_issue_ref)
-- and the lead time from the issue being opened to the merge, in seconds.
CREATE VIEW IF NOT EXISTS v_pr_lead_time AS
SELECT
    m.project AS project,
    m.repository AS repository,
    m.ref AS pr_ref,
    o.issue AS issue_ref,
    i.opened_at AS issue_opened_at,
    coalesce(m.merged_at, m.occurred_at) AS merged_at,
    dateDiff('second', i.opened_at, coalesce(m.merged_at, m.occurred_at)) AS lead_time_s
FROM (SELECT * FROM deliveries FINAL WHERE event_type = 'pr.merged') AS m
INNER JOIN (SELECT repository, ref, any(closes_issue_ref) AS issue
            FROM deliveries FINAL
            WHERE event_type = 'pr.opened' AND closes_issue_ref IS NOT NULL
            GROUP BY repository, ref) AS o
    ON o.repository = m.repository AND o.ref = m.ref
INNER JOIN (SELECT repository, ref, min(occurred_at) AS opened_at
            FROM deliveries FINAL
            WHERE event_type = 'issue.opened'
            GROUP BY repository, ref) AS i
    ON i.repository = m.repository AND i.ref = o.issue;

-- Merged pull requests that no browser_proof evidence proves (evidence.proves = pr ref).
CREATE VIEW IF NOT EXISTS v_prs_without_browser_proof AS
SELECT m.project AS project, m.repository AS repository, m.ref AS pr_ref,
       coalesce(m.merged_at, m.occurred_at) AS merged_at
FROM (SELECT * FROM deliveries FINAL WHERE event_type = 'pr.merged') AS m
LEFT ANTI JOIN (SELECT DISTINCT proves FROM evidence FINAL WHERE kind = 'browser_proof') AS e
    ON e.proves = m.ref;
