-- Which windows continue the incremental chain. A backfill (an explicit window in the start message) must not
-- move the next incremental window's start: only incremental runs do. NULL (rows before this migration, and the
-- silver/gold rows, whose window follows bronze) counts as incremental.
ALTER TABLE ingestion_job_execution
    ADD COLUMN IF NOT EXISTS window_kind text
        CONSTRAINT ingestion_job_execution_window_kind_check CHECK (window_kind IN ('incremental', 'backfill'));

CREATE INDEX IF NOT EXISTS ingestion_job_execution_last_window_idx
    ON ingestion_job_execution (job_name, stage, end_time DESC)
    WHERE status = 'SUCCESS';
