-- The attempts a stage's ledger row no longer shows. A retry, a zombie takeover or an operator's replay reuses the
-- one (execution_id, stage) row (its unique key is what makes redeliveries harmless), which used to overwrite what
-- the replaced attempt had been: its error, its last heartbeat. The statement that replaces an attempt copies it
-- here first; fp runs --execution-id lists these under each stage.
CREATE TABLE IF NOT EXISTS ingestion_job_attempt (
    execution_id    uuid          NOT NULL,
    stage           varchar(16)   NOT NULL CHECK (stage IN ('bronze', 'silver', 'gold')),
    attempt         integer       NOT NULL,
    status          varchar(16)   NOT NULL CHECK (status IN ('RUNNING', 'SUCCESS', 'FAILED')),  -- when it was replaced
    claim_reason    varchar(16)   NOT NULL,
    records         bigint,
    error           text,
    started_at      timestamptz   NOT NULL,
    heartbeat_at    timestamptz   NOT NULL,
    finished_at     timestamptz,
    replaced_by     varchar(16)   NOT NULL CHECK (replaced_by IN ('retry', 'takeover', 'replay')),
    replaced_at     timestamptz   NOT NULL,
    PRIMARY KEY (execution_id, stage, attempt)
);
