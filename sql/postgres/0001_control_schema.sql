-- Control database of FinancialPipeline. Keeps the seed's tables and column names, fixed:
--  * ingestion_job_config gains active (the seed's code filtered on it, its DDL lacked it), provider,
--    bar_interval, silver_bucket_name and lookback_seconds;
--  * ingestion_job_execution is one row per (execution_id, stage) under a UNIQUE key (the seed had
--    UNIQUE (execution_id) and no stage, so its second stage collided), with attempt, owner token,
--    heartbeat, error text and the completion event that is re-emitted on redelivery.
-- start_time/end_time are the data window [start, end) the stage processed (the seed wrote wall-clock
-- time there); started_at/finished_at are the run's own timestamps. All timestamps are timestamptz (UTC).

CREATE TABLE ingestion_job_config (
    job_name            varchar(64)   PRIMARY KEY,
    tickers             varchar(1000) NOT NULL,
    period              integer,                          -- seed column; never used, kept for compatibility
    interval            integer       NOT NULL DEFAULT 3600,   -- schedule interval, seconds
    overlap             integer       NOT NULL DEFAULT 10800,  -- seconds re-fetched before the last window's end
    bucket_name         varchar(128)  NOT NULL,                -- bronze bucket
    silver_bucket_name  varchar(128),                          -- silver bucket (bronze bucket when null)
    provider            varchar(32)   NOT NULL DEFAULT 'synthetic',
    bar_interval        varchar(8)    NOT NULL DEFAULT '1h',
    lookback_seconds    integer       NOT NULL DEFAULT 604800, -- first-run window length
    active              boolean       NOT NULL DEFAULT true,
    updated_by          varchar(64)   NOT NULL,
    created_at          timestamptz   NOT NULL DEFAULT now(),
    updated_at          timestamptz   NOT NULL DEFAULT now()
);

CREATE TABLE ingestion_job_execution (
    id              bigserial     PRIMARY KEY,
    execution_id    uuid          NOT NULL,
    stage           varchar(16)   NOT NULL CHECK (stage IN ('bronze', 'silver', 'gold')),
    job_name        varchar(64)   NOT NULL,
    tickers         varchar(1000),
    interval        integer,
    overlap         integer,
    bucket_name     varchar(128),
    start_time      timestamptz,
    end_time        timestamptz,
    filename        text,          -- object URIs / table written, one per line
    records         bigint,
    status          varchar(16)   NOT NULL CHECK (status IN ('RUNNING', 'SUCCESS', 'FAILED')),
    attempt         integer       NOT NULL DEFAULT 1,
    claim_reason    varchar(16)   NOT NULL DEFAULT 'new' CHECK (claim_reason IN ('new', 'retry', 'takeover', 'replay')),
    owner_token     uuid          NOT NULL,
    heartbeat_at    timestamptz   NOT NULL,
    error           text,
    metrics         jsonb,
    completion      jsonb,         -- the completion event as published; re-emitted when already SUCCESS
    started_at      timestamptz   NOT NULL,
    finished_at     timestamptz,
    created_at      timestamptz   NOT NULL DEFAULT now(),
    updated_at      timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT uq_ingestion_job_execution_execution_stage UNIQUE (execution_id, stage)
);

-- "last successful window of this job and stage" (incremental windows) and zombie scans.
CREATE INDEX ix_ingestion_job_execution_job_stage_end
    ON ingestion_job_execution (job_name, stage, end_time DESC) WHERE status = 'SUCCESS';
CREATE INDEX ix_ingestion_job_execution_running_heartbeat
    ON ingestion_job_execution (heartbeat_at) WHERE status = 'RUNNING';

-- Messages answered 2xx without processing (poison): nothing is dropped silently.
CREATE TABLE rejected_message (
    id              bigserial     PRIMARY KEY,
    received_at     timestamptz   NOT NULL,
    function_name   varchar(32)   NOT NULL,
    message_id      varchar(256),
    subscription    text,
    source          text,
    execution_id    text,
    field           varchar(128)  NOT NULL,
    reason          text          NOT NULL,
    payload         bytea,
    attributes      jsonb
);
CREATE INDEX ix_rejected_message_received_at ON rejected_message (received_at DESC);
