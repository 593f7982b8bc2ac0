-- Silver, DuckDB (local): the same tables as sql/bigquery/silver_external_table.sql, as views over the
-- Hive-partitioned Parquet in the local silver bucket. {silver_root} is replaced by the absolute path of
-- {FP_DATA_DIR}/buckets/{silver_bucket}, with single quotes doubled.
-- `date` comes from the path (date=YYYY-MM-DD), the other columns from the files' pinned schema. currency and
-- exchange_timezone were added later: union_by_name reads them as NULL from objects written before, and the empty
-- typed row set keeps them (NULL) when no object has them yet.
-- Run with SET TimeZone = 'UTC' so bar_ts prints in UTC (the files store UTC instants).
CREATE OR REPLACE VIEW financial_quotes_silver AS
SELECT bar_ts, ticker, open, high, low, close, adj_close, volume, execution_id, ingested_at, provider,
       currency, exchange_timezone, "date"
FROM (SELECT NULL::VARCHAR AS currency, NULL::VARCHAR AS exchange_timezone WHERE false
      UNION ALL BY NAME
      SELECT * FROM read_parquet('{silver_root}/financial_quotes/*/*.parquet', hive_partitioning = true, hive_types = {'date': DATE},
                                 union_by_name = true));

CREATE OR REPLACE VIEW financial_quotes_rejected AS
SELECT bar_ts, ticker, open, high, low, close, adj_close, volume, execution_id, ingested_at, provider,
       currency, exchange_timezone, rule, reason, rejected_by, "date"
FROM (SELECT NULL::VARCHAR AS currency, NULL::VARCHAR AS exchange_timezone WHERE false
      UNION ALL BY NAME
      SELECT * FROM read_parquet('{silver_root}/financial_quotes_rejected/*/*.parquet', hive_partitioning = true,
                                 hive_types = {'date': DATE}, union_by_name = true));
