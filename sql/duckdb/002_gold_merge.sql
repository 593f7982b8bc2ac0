-- Recomputes the hours of the touched bar dates from de-duplicated silver and MERGEs them.
-- {silver_files} is replaced by a validated list of partition files; $dates (DATE[]), $execution_id and
-- $updated_at are bound parameters. Silver holds each (ticker, bar_ts) once, so each target row matches at
-- most one source row. Unchanged rows are not touched (re-running an execution changes nothing).
MERGE INTO financial_data_hour AS t
USING (
    WITH src AS (
        SELECT ticker, bar_ts, open, high, low, close, volume
        FROM read_parquet({silver_files}, hive_partitioning = false)
    ),
    hourly AS (
        SELECT ticker,
               date_trunc('hour', bar_ts)                     AS "hour",
               arg_min(open, bar_ts)                          AS open,
               max(high)                                      AS high,
               min(low)                                       AS low,
               arg_max(close, bar_ts)                         AS close,
               sum(volume)::BIGINT                            AS volume,
               CASE WHEN sum(volume) > 0
                    THEN sum((high + low + close) / 3 * volume) / sum(volume) END AS vwap,
               count(*)::INTEGER                              AS bar_count
        FROM src
        GROUP BY ticker, date_trunc('hour', bar_ts)
    ),
    derived AS (
        SELECT *,
               (close / lag(close) OVER (PARTITION BY ticker ORDER BY "hour") - 1) * 100 AS return_pct,
               CASE WHEN low > 0 THEN (high - low) / low * 100 END                     AS range_pct
        FROM hourly
    )
    SELECT * FROM derived WHERE CAST("hour" AS DATE) IN (SELECT unnest($dates::DATE[]))
) AS s
ON t.ticker = s.ticker AND t."hour" = s."hour"
WHEN MATCHED AND (t.open IS DISTINCT FROM s.open OR t.high IS DISTINCT FROM s.high OR t.low IS DISTINCT FROM s.low
                  OR t.close IS DISTINCT FROM s.close OR t.volume IS DISTINCT FROM s.volume
                  OR t.vwap IS DISTINCT FROM s.vwap OR t.bar_count IS DISTINCT FROM s.bar_count
                  OR t.return_pct IS DISTINCT FROM s.return_pct OR t.range_pct IS DISTINCT FROM s.range_pct) THEN
    UPDATE SET open = s.open, high = s.high, low = s.low, close = s.close, volume = s.volume, vwap = s.vwap,
               bar_count = s.bar_count, return_pct = s.return_pct, range_pct = s.range_pct,
               execution_id = $execution_id, updated_at = $updated_at
WHEN NOT MATCHED THEN
    INSERT (ticker, "hour", open, high, low, close, volume, vwap, bar_count, return_pct, range_pct, execution_id, updated_at)
    VALUES (s.ticker, s."hour", s.open, s.high, s.low, s.close, s.volume, s.vwap, s.bar_count, s.return_pct, s.range_pct,
            $execution_id, $updated_at);
