-- Gold table, DuckDB (local). Same columns and meaning as sql/bigquery/gold_financial_data_hour.sql.
-- "hour" is the UTC clock hour in which a bar STARTS (date_trunc('hour', bar_ts)): Yahoo's US hourly bars
-- are stamped at :30 and cover :30 to the next :30, so the bar stamped 14:30Z (14:30–15:30) lands in hour
-- 14:00Z. Truncating keeps DATE(hour) equal to the bar's silver partition date, so a touched silver date
-- maps to exactly one gold date partition. Applied once per process and database file.
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
    PRIMARY KEY (ticker, "hour")
);
