-- Gold table, BigQuery. Same columns and meaning as sql/duckdb/001_gold_schema.sql.
-- ${project} and ${dataset} are replaced by validated identifiers (BigQueryGoldWarehouse, or by hand:
-- bq query --use_legacy_sql=false < this file after substitution).
--
-- `hour` is the UTC clock hour in which a bar STARTS (TIMESTAMP_TRUNC(bar_ts, HOUR)). Yahoo's US hourly
-- bars are stamped at :30 and cover :30 to the next :30: the bar stamped 14:30Z (14:30–15:30) lands in
-- hour 14:00Z. Truncation keeps DATE(`hour`) equal to the bar's silver partition date (`date=`), so the
-- dates silver touched are exactly the gold partitions to recompute.
--
-- Daily partitions on DATE(`hour`) (10,000 partitions per table ≈ 27 years); clustering by ticker keeps a
-- ticker's hours together inside a partition, so per-ticker reads and the MERGE's join scan less.
--
-- Idempotent and a no-op read when the table exists. BigQueryGoldWarehouse runs it once per process before the first
-- MERGE only when tables.get finds no table; fp deploy apply runs it every time. A column added after the first release
-- is in this list (so a new table needs no migration) and in a file of its own that alters an existing table:
-- gold_financial_data_hour_add_currency.sql.
CREATE TABLE IF NOT EXISTS `${project}.${dataset}.financial_data_hour`
(
    ticker        STRING    NOT NULL OPTIONS (description = 'Symbol as in silver, e.g. AAPL'),
    `hour`        TIMESTAMP NOT NULL OPTIONS (description = 'UTC hour in which the bars start; a :30 bar lands in the hour it starts in'),
    open          FLOAT64   NOT NULL OPTIONS (description = 'Open of the first bar of the hour'),
    high          FLOAT64   NOT NULL OPTIONS (description = 'Highest high of the hour'),
    low           FLOAT64   NOT NULL OPTIONS (description = 'Lowest low of the hour'),
    close         FLOAT64   NOT NULL OPTIONS (description = 'Close of the last bar of the hour'),
    volume        INT64     NOT NULL OPTIONS (description = 'Sum of the volume of the bars'),
    vwap          FLOAT64            OPTIONS (description = 'Sum((high+low+close)/3 * volume) / sum(volume); NULL when volume is 0'),
    bar_count     INT64     NOT NULL OPTIONS (description = 'Silver bars in the hour'),
    return_pct    FLOAT64            OPTIONS (description = '(close / previous hour close of the ticker - 1) * 100; NULL when the ticker has no hour in the 7 days before'),
    range_pct     FLOAT64            OPTIONS (description = '(high - low) / low * 100'),
    execution_id  STRING    NOT NULL OPTIONS (description = 'Execution whose MERGE last changed the row'),
    updated_at    TIMESTAMP NOT NULL OPTIONS (description = 'When that MERGE ran'),
    -- added later, last in both a new and a migrated table (ADD COLUMN appends)
    currency      STRING             OPTIONS (description = 'Currency of the prices as the provider names it (e.g. USD, JPY, GBp); NULL when unknown')
)
PARTITION BY DATE(`hour`)
CLUSTER BY ticker
OPTIONS (description = 'Hourly OHLCV aggregates of silver financial_quotes; written only by the Aggregate function MERGE');
