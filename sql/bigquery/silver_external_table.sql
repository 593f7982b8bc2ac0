-- Silver, BigQuery: external tables over the Hive-partitioned Parquet the Transform function writes.
-- Placeholders, replaced by the deploy helper (or by hand before `bq query --use_legacy_sql=false < file`):
--   ${project}        GCP project id of the dataset
--   ${dataset}        dataset holding financial_quotes_silver (the table the gold MERGE reads) and gold
--   ${silver_bucket}  the job's silver bucket (ingestion_job_config.silver_bucket_name), without gs://
--
-- Layout: gs://${silver_bucket}/financial_quotes/date=YYYY-MM-DD/part-00000.parquet, one object per bar date
-- (UTC), replaced atomically by each Transform run that touches the date. `date` exists only in the path
-- (a Hive key, DATE); every other column is in the files with this pinned schema (BarParquet.Schema).
-- Each (ticker, bar_ts) appears once; the row kept is the newest ingestion (ingested_at, then execution_id).
CREATE OR REPLACE EXTERNAL TABLE `${project}.${dataset}.financial_quotes_silver`
(
    bar_ts        TIMESTAMP,  -- bar start, UTC (Parquet INT64 TIMESTAMP(MILLIS, UTC)); US hourly bars start at :30
    ticker        STRING,     -- symbol as listed in the job, e.g. AAPL
    open          FLOAT64,
    high          FLOAT64,
    low           FLOAT64,
    close         FLOAT64,
    adj_close     FLOAT64,    -- NULL when the provider does not report it
    volume        INT64,
    execution_id  STRING,     -- execution whose bronze object this row came from (UUID)
    ingested_at   TIMESTAMP,  -- when that execution fetched it: the newest ingestion wins
    provider      STRING,     -- e.g. synthetic, yahoo
    -- Added later (nullable): objects written before have no such column and read it as NULL.
    currency          STRING, -- the prices' currency as the provider names it (USD, JPY, GBp); NULL when unknown
    exchange_timezone STRING  -- the exchange's IANA time zone, e.g. America/New_York; NULL when unknown
)
WITH PARTITION COLUMNS (
    `date` DATE               -- bar date, UTC, from date=YYYY-MM-DD
)
OPTIONS (
    format = 'PARQUET',
    uris = ['gs://${silver_bucket}/financial_quotes/*'],
    hive_partition_uri_prefix = 'gs://${silver_bucket}/financial_quotes',
    require_hive_partition_filter = false,
    description = 'Silver financial quotes: validated, de-duplicated hourly bars, one Parquet object per bar date (written by the Transform function)'
);

-- Quarantine: every row silver rejected, with the rule it broke, why, and the execution that rejected it. Kept per
-- execution: a bad bar fetched by several executions is here once per execution (the audit trail); the view
-- financial_quotes_rejected_current (silver_rejected_current_view.sql) holds one row per bar still quarantined.
-- gs://${silver_bucket}/financial_quotes_rejected/date=YYYY-MM-DD/rejected-{execution_id}.parquet
CREATE OR REPLACE EXTERNAL TABLE `${project}.${dataset}.financial_quotes_rejected`
(
    bar_ts        TIMESTAMP,
    ticker        STRING,
    open          FLOAT64,    -- NULL in bronze reads as NaN here (rule price_positive)
    high          FLOAT64,
    low           FLOAT64,
    close         FLOAT64,
    adj_close     FLOAT64,
    volume        INT64,
    execution_id  STRING,
    ingested_at   TIMESTAMP,
    provider      STRING,
    currency          STRING, -- added later, as in financial_quotes_silver: NULL in objects written before
    exchange_timezone STRING,
    rule          STRING,     -- price_positive | high_low_bounds | volume_non_negative | volume_plausible | timestamp_aligned | not_in_future | ticker_in_job | duplicate_in_batch
    reason        STRING,     -- the rule in words with the offending values
    rejected_by   STRING      -- execution_id of the Transform run that rejected the row
)
WITH PARTITION COLUMNS (
    `date` DATE
)
OPTIONS (
    format = 'PARQUET',
    uris = ['gs://${silver_bucket}/financial_quotes_rejected/*'],
    hive_partition_uri_prefix = 'gs://${silver_bucket}/financial_quotes_rejected',
    require_hive_partition_filter = false,
    description = 'Rows the Transform function rejected, one object per bar date and rejecting execution'
);
