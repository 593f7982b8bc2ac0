-- The window a start message asked for (a backfill), recorded at the claim. The pinned window (start_time,
-- end_time) is written only once Extract has planned it, so a bronze that failed before that (a configuration error
-- found after the claim) kept no trace of the backfill it was: fp replay --stage bronze then sent no window, the
-- replay ran an incremental window, and fp backfill counted the backfill window done. NULL for incremental runs,
-- for the silver and gold rows, and for rows claimed before this migration.
ALTER TABLE ingestion_job_execution
    ADD COLUMN requested_start timestamptz,
    ADD COLUMN requested_end timestamptz,
    ADD CONSTRAINT ingestion_job_execution_requested_window_check
        CHECK ((requested_start IS NULL) = (requested_end IS NULL) AND (requested_start IS NULL OR requested_start < requested_end));
