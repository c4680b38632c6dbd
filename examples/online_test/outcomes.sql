-- outcomes.sql: the read-out's source - per candidate and variant of the experiment, the items shown to them
-- (impressions), the applications that followed (applies) and the interleaving team credit, in the window
-- [:as_of, :as_of + :test_days days). Athena/Trino dialect, like every extract.
SELECT
    e.candidate_id,
    e.variant,
    COUNT(*) AS impressions,
    COUNT(o.exposure_id) AS applies
FROM exposures AS e
LEFT JOIN outcomes AS o ON o.exposure_id = e.exposure_id
WHERE e.experiment = 'ranker-ab'
  AND e.exposed_at >= CAST(:as_of AS TIMESTAMP)
  AND e.exposed_at < CAST(date_add('day', :test_days, :as_of) AS TIMESTAMP)
GROUP BY e.candidate_id, e.variant
ORDER BY e.candidate_id, e.variant
