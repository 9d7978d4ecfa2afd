-- Question: how much of what each project merges is backed by evidence?
-- Columns:  project, merged_prs, with_evidence (at least one evidence.recorded proving
--           the PR), with_browser_proof, browser_proof_coverage (0..1), evidence_bytes
--           (total size of the artifacts proving merged PRs).
-- Reading:  coverage below 1 means merged PRs without browser proof; list them with
--           prs_merged_without_browser_proof.sql.
SELECT
    m.project AS project,
    uniqExact(m.ref) AS merged_prs,
    uniqExactIf(m.ref, e.n > 0) AS with_evidence,
    uniqExactIf(m.ref, e.browser > 0) AS with_browser_proof,
    round(with_browser_proof / merged_prs, 4) AS browser_proof_coverage,
    sum(e.bytes) AS evidence_bytes
FROM (SELECT DISTINCT project, ref FROM deliveries FINAL WHERE event_type = 'pr.merged') AS m
LEFT JOIN (
    SELECT proves, count() AS n, countIf(kind = 'browser_proof') AS browser, sum(size_bytes) AS bytes
    FROM evidence FINAL
    GROUP BY proves
) AS e ON e.proves = m.ref
GROUP BY m.project
ORDER BY m.project
