-- Gold table, DuckDB (local). Same columns and meaning as sql/bigquery/gold_financial_data_hour.sql.
-- "hour" is the UTC clock hour in which a bar STARTS (date_trunc('hour', bar_ts)): Yahoo's US hourly bars
-- are stamped at :30 and cover :30 to the next :30, so the bar stamped 14:30Z (14:30–15:30) lands in hour
-- 14:00Z. Truncating keeps DATE(hour) equal to the bar's silver partition date, so a touched silver date
-- maps to exactly one gold date partition. Applied once per process and database file: every statement is
-- idempotent, and a later column is added with ALTER TABLE … ADD COLUMN IF NOT EXISTS, so a table created by an
-- earlier version is migrated in place (its rows keep their values; the new column is NULL until a MERGE rewrites
-- the hour).
CREATE TABLE IF NOT EXISTS financial_data_hour (
    ticker        VARCHAR     NOT NULL,
    "hour"        TIMESTAMPTZ NOT NULL,
    open          DOUBLE      NOT NULL,
    high          DOUBLE      NOT NULL,
    low           DOUBLE      NOT NULL,
    close         DOUBLE      NOT NULL,
    volume        BIGINT      NOT NULL,
    vwap          DOUBLE,
    bar_count     BIGINT      NOT NULL,
    return_pct    DOUBLE,
    range_pct     DOUBLE,
    execution_id  VARCHAR     NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    currency      VARCHAR,     -- added later, last in both a new and a migrated table (ADD COLUMN appends)
    PRIMARY KEY (ticker, "hour")
);

-- Added after the first release: the unit of the prices (silver's currency, e.g. USD, JPY, GBp). NULL when the
-- provider did not say, and for hours merged from silver written before silver had the column.
ALTER TABLE financial_data_hour ADD COLUMN IF NOT EXISTS currency VARCHAR;
