-- Question: which merged PRs have no browser-proof evidence?
-- Columns:  project, repository, pr_ref ('owner/name#N'), merged_at (UTC).
-- Reading:  evidence proves a PR when evidence.recorded has kind = 'browser_proof' and
--           proves = the PR ref. Every row is a merged PR still missing that proof
--           (other evidence kinds, such as test reports, do not count). Newest first.
SELECT project, repository, pr_ref, merged_at
FROM v_prs_without_browser_proof
ORDER BY merged_at DESC, pr_ref
