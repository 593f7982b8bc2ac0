-- A replay's reset erases a SUCCESS row's completion event (its counts, outputs and metrics), and
-- ingestion_job_attempt kept only the records count of it: fp runs --execution-id could not say what the replaced
-- run had read and written, so a replay's result could not be compared with what it replaced. The completion event
-- as it was published is now kept with the attempt (NULL for an attempt that never succeeded).
ALTER TABLE ingestion_job_attempt ADD COLUMN IF NOT EXISTS completion jsonb;
