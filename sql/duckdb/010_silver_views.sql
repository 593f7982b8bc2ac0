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

-- The quarantine as it stands: one row per (ticker, bar_ts), its latest rejection (ingested_at, then rejected_by;
-- rule and reason only break a tie inside one execution), and only while silver does not hold the bar from that
-- fetch or a later one. financial_quotes_rejected above keeps every copy: each execution that fetched a bad bar (the
-- next window's overlap, a backfill) set it aside in its own object, which is what reconciles an execution
-- (silver + quarantine + superseded = bronze). A bar rejected once and accepted by a later fetch is in silver and
-- not here; one whose newest fetch was rejected while silver keeps an older accepted value is still here.
-- The anti-join reads silver's ticker, bar_ts and ingested_at columns only. BigQuery: sql/bigquery/silver_rejected_current_view.sql.
CREATE OR REPLACE VIEW financial_quotes_rejected_current AS
SELECT r.*
FROM financial_quotes_rejected AS r
WHERE NOT EXISTS (
    SELECT 1 FROM financial_quotes_silver AS s
    WHERE s.ticker = r.ticker AND s.bar_ts = r.bar_ts AND s.ingested_at >= r.ingested_at)
QUALIFY row_number() OVER (PARTITION BY r.ticker, r.bar_ts ORDER BY r.ingested_at DESC, r.rejected_by DESC, r.rule, r.reason) = 1;
