-- Question: how long from an issue being opened to the PR that closes it being merged?
-- Columns:  repository, merged_prs (PRs linked to an issue), median_lead_time_s,
--           p90_lead_time_s.
-- Reading:  a PR references its issue by attributes['issue_ref'] on pr.opened, else by a
--           GitHub closing keyword in its title ("Fixes #12", "closes owner/repo#12");
--           see sinks.facts.closes_issue_ref. The link is joined on repository + issue
--           ref (v_pr_lead_time). Lead time = issue opened -> merged_at. PRs without a
--           linked issue are not counted.
SELECT
    repository,
    count() AS merged_prs,
    median(lead_time_s) AS median_lead_time_s,
    quantile(0.9)(lead_time_s) AS p90_lead_time_s
FROM v_pr_lead_time
GROUP BY repository
ORDER BY repository
