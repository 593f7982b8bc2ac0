-- Recomputes the gold hours an execution touched from de-duplicated silver and MERGEs them (BigQuery).
-- The same statement as sql/duckdb/002_gold_merge.sql; keep the two in step.
-- ${project}/${dataset} are validated identifiers; everything else is a named query parameter:
--   @read_from, @read_to  DATE          silver partitions read (`date` hive key): touched − 7 days … + 7 days
--   @tickers              ARRAY<STRING> the job's tickers: the only gold rows the MERGE may change (jobs share the table)
--   @touched_dates        ARRAY<DATE>   bar dates silver rewrote (from its completion event)
--   @target_dates         ARRAY<DATE>   touched dates and the 7 days after each
--   @execution_id STRING, @updated_at TIMESTAMP
-- Cost: the source reads only the silver partitions @read_from..@read_to of the external table; the target
-- condition (ON … AND DATE(t.`hour`) IN UNNEST(@target_dates), and the same kind of filter on the DELETE
-- branch) names constant partitions, so BigQuery prunes the target to those partitions and bills only them.
MERGE `${project}.${dataset}.financial_data_hour` AS t
USING (
    WITH bars AS (
        -- one row per (ticker, bar_ts) even if silver ever held two: newest ingestion wins
        SELECT ticker, bar_ts, open, high, low, close, volume, currency
        FROM `${project}.${dataset}.financial_quotes_silver`
        WHERE `date` BETWEEN @read_from AND @read_to AND ticker IN UNNEST(@tickers)
        QUALIFY ROW_NUMBER() OVER (PARTITION BY ticker, bar_ts ORDER BY ingested_at DESC, execution_id DESC) = 1
    ),
    hourly AS (
        SELECT ticker,
               TIMESTAMP_TRUNC(bar_ts, HOUR)                                 AS `hour`,
               MIN_BY(open, bar_ts)                                          AS open,
               MAX(high)                                                     AS high,
               MIN(low)                                                      AS low,
               MAX_BY(close, bar_ts)                                         AS close,
               SUM(volume)                                                   AS volume,
               IF(SUM(volume) > 0, SUM((high + low + close) / 3 * volume) / SUM(volume), NULL) AS vwap,
               COUNT(*)                                                      AS bar_count,
               -- one response's bars share one currency; the hour's last bar that names one
               ARRAY_AGG(currency IGNORE NULLS ORDER BY bar_ts DESC LIMIT 1)[SAFE_OFFSET(0)] AS currency
        FROM bars
        GROUP BY ticker, `hour`
    ),
    chained AS (
        SELECT *,
               LAG(`hour`) OVER w AS prev_hour,
               LAG(close)  OVER w AS prev_close
        FROM hourly
        WINDOW w AS (PARTITION BY ticker ORDER BY `hour`)
    ),
    derived AS (
        SELECT ticker, `hour`, open, high, low, close, volume, vwap, bar_count, currency,
               IF(prev_hour >= TIMESTAMP_SUB(`hour`, INTERVAL 7 DAY) AND prev_close > 0,
                  (close / prev_close - 1) * 100, NULL)                      AS return_pct,
               IF(low > 0, (high - low) / low * 100, NULL)                   AS range_pct,
               -- earliest date whose bars can change this row's return_pct
               DATE(IF(prev_hour >= TIMESTAMP_SUB(`hour`, INTERVAL 7 DAY),
                       prev_hour, TIMESTAMP_SUB(`hour`, INTERVAL 7 DAY)))    AS depends_from
        FROM chained
    )
    SELECT ticker, `hour`, open, high, low, close, volume, vwap, bar_count, return_pct, range_pct, currency
    FROM derived
    WHERE EXISTS (SELECT 1 FROM UNNEST(@touched_dates) AS touched_day
                  WHERE touched_day BETWEEN derived.depends_from AND DATE(derived.`hour`))
) AS s
ON t.ticker = s.ticker AND t.`hour` = s.`hour` AND DATE(t.`hour`) IN UNNEST(@target_dates)
WHEN MATCHED AND (t.open IS DISTINCT FROM s.open OR t.high IS DISTINCT FROM s.high OR t.low IS DISTINCT FROM s.low
                  OR t.close IS DISTINCT FROM s.close OR t.volume IS DISTINCT FROM s.volume
                  OR t.bar_count IS DISTINCT FROM s.bar_count
                  OR t.return_pct IS DISTINCT FROM s.return_pct OR t.range_pct IS DISTINCT FROM s.range_pct
                  OR t.currency IS DISTINCT FROM s.currency
                  -- a float SUM's last bits depend on evaluation order: only a real change counts
                  OR (t.vwap IS NULL) != (s.vwap IS NULL) OR ABS(t.vwap - s.vwap) > 1e-12 * ABS(s.vwap)) THEN
    UPDATE SET open = s.open, high = s.high, low = s.low, close = s.close, volume = s.volume, vwap = s.vwap,
               bar_count = s.bar_count, return_pct = s.return_pct, range_pct = s.range_pct, currency = s.currency,
               execution_id = @execution_id, updated_at = @updated_at
WHEN NOT MATCHED BY TARGET THEN
    INSERT (ticker, `hour`, open, high, low, close, volume, vwap, bar_count, return_pct, range_pct, currency, execution_id, updated_at)
    VALUES (s.ticker, s.`hour`, s.open, s.high, s.low, s.close, s.volume, s.vwap, s.bar_count, s.return_pct, s.range_pct, s.currency,
            @execution_id, @updated_at)
WHEN NOT MATCHED BY SOURCE AND DATE(t.`hour`) IN UNNEST(@touched_dates) AND t.ticker IN UNNEST(@tickers) THEN
    DELETE
