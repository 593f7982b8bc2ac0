-- Gold table, DuckDB (local). Same columns as sql/bigquery/gold_financial_data_hour.sql.
-- hour = the UTC hour in which a bar STARTS: Yahoo's US hourly bars are stamped at :30
-- (13:30Z, 14:30Z …), so the 14:30Z bar lands in hour 14:00Z.
CREATE TABLE IF NOT EXISTS financial_data_hour (
    ticker        VARCHAR     NOT NULL,
    "hour"        TIMESTAMPTZ NOT NULL,
    open          DOUBLE      NOT NULL,
    high          DOUBLE      NOT NULL,
    low           DOUBLE      NOT NULL,
    close         DOUBLE      NOT NULL,
    volume        BIGINT      NOT NULL,
    vwap          DOUBLE,
    bar_count     INTEGER     NOT NULL,
    return_pct    DOUBLE,
    range_pct     DOUBLE,
    execution_id  VARCHAR     NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (ticker, "hour")
);
