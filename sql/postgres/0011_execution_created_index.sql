-- fp runs lists the newest executions. It read and grouped the whole ledger on every call (≈0.5 s at 210 k rows,
-- growing with every hourly run); with these it reads the newest rows only.
CREATE INDEX IF NOT EXISTS ix_ingestion_job_execution_created ON ingestion_job_execution (created_at DESC);
CREATE INDEX IF NOT EXISTS ix_ingestion_job_execution_job_created ON ingestion_job_execution (job_name, created_at DESC);
