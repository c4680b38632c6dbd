-- scoring_set.sql: the scoring extract of the reference job-matching pipeline (Athena/Trino dialect).
-- Returns one row per interview invitation sent in [:as_of, :as_of + :score_days days), joined with the candidate
-- and the job post it concerns: the same feature columns as training_set.sql, without the target.
-- Booleans are cast to INTEGER (0/1; NULL stays NULL). Ordered by invitation_id.
-- Parameters:
--   :as_of       DATE     start of the window (inclusive)
--   :score_days  INTEGER  length of the window in days
SELECT
    i.invitation_id,
    i.candidate_id,
    i.job_id,
    i.sent_at,
    c.region,
    c.years_experience,
    c.skill_score,
    c.desired_hourly_rate,
    CAST(c.lives_abroad AS INTEGER) AS lives_abroad,
    c.last_active_days,
    j.category,
    j.hourly_rate_min,
    j.hourly_rate_max,
    j.required_experience,
    CAST(j.remote AS INTEGER) AS remote,
    j.company_size,
    j.hourly_rate_max - c.desired_hourly_rate AS rate_gap,
    c.years_experience - j.required_experience AS experience_gap,
    date_diff('day', c.signup_date, CAST(i.sent_at AS DATE)) AS tenure_days
FROM invitations AS i
JOIN candidates AS c ON c.candidate_id = i.candidate_id
JOIN job_posts AS j ON j.job_id = i.job_id
WHERE i.sent_at >= CAST(:as_of AS TIMESTAMP)
  AND i.sent_at < CAST(date_add('day', :score_days, :as_of) AS TIMESTAMP)
ORDER BY i.invitation_id
