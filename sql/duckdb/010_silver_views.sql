-- Silver, DuckDB (local): the same tables as sql/bigquery/silver_external_table.sql, as views over the
-- Hive-partitioned Parquet in the local silver bucket. {silver_root} is replaced by the absolute path of
-- {FP_DATA_DIR}/buckets/{silver_bucket}, with single quotes doubled.
-- `date` comes from the path (date=YYYY-MM-DD), the other columns from the files' pinned schema.
-- Run with SET TimeZone = 'UTC' so bar_ts prints in UTC (the files store UTC instants).
CREATE OR REPLACE VIEW financial_quotes_silver AS
SELECT bar_ts, ticker, open, high, low, close, adj_close, volume, execution_id, ingested_at, provider,
       "date"
FROM read_parquet('{silver_root}/financial_quotes/*/*.parquet', hive_partitioning = true, hive_types = {'date': DATE});

CREATE OR REPLACE VIEW financial_quotes_rejected AS
SELECT bar_ts, ticker, open, high, low, close, adj_close, volume, execution_id, ingested_at, provider,
       rule, reason, rejected_by, "date"
FROM read_parquet('{silver_root}/financial_quotes_rejected/*/*.parquet', hive_partitioning = true, hive_types = {'date': DATE});
