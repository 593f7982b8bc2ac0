-- 0003 created ingestion_job_execution_last_window_idx with the same columns and predicate as 0001's
-- ix_ingestion_job_execution_job_stage_end: every ledger write maintained two identical indexes and the
-- "last successful window" lookup gained nothing from the second one.
DROP INDEX IF EXISTS ingestion_job_execution_last_window_idx;
