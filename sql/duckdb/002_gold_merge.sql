-- Recomputes the gold hours an execution touched from de-duplicated silver and MERGEs them (DuckDB).
-- The same computation as sql/bigquery/gold_merge.sql; keep the two in step. One difference: gold hours silver no
-- longer holds are deleted by 004_gold_delete_vanished.sql in the same transaction, not by a WHEN NOT MATCHED BY
-- SOURCE branch here: DuckDB joins every row of the table for that branch, so each run cost as much as the whole
-- table's history (≈1.7 s at 4.4 M rows against ≈60 ms without it).
-- Bound parameters:
--   $files        VARCHAR[]  silver Parquet files of the partitions touched − 7 days … + 7 days (listed by the adapter)
--   $tickers      VARCHAR[]  the job's tickers: the only gold rows the MERGE may change (jobs share the table)
--   $touched      DATE[]     bar dates silver rewrote (from its completion event)
--   $target_dates DATE[]     touched dates and the 7 days after each: the only gold partitions the MERGE may change
--   $target_from, $target_until  TIMESTAMP  midnight (UTC) of the first target date and of the day after the last:
--                                the same bound as a range on "hour" itself, which the table's zone maps can prune
--   $execution_id VARCHAR, $updated_at TIMESTAMPTZ
-- Scope: every hour of a touched date, plus every later hour whose return_pct depends on one (its previous
-- close, or the absence of one, lies in a touched date). Another job's tickers are never read, changed or deleted
-- (its silver may be another bucket). Rows whose values did not change are left alone, so a re-run changes nothing.
MERGE INTO financial_data_hour AS t
USING (
    WITH silver AS (
        -- currency came with a later silver schema: union_by_name reads it as NULL from files written before, and the
        -- empty typed row set gives the column a type even when none of the files has it.
        SELECT * FROM (SELECT NULL::VARCHAR AS currency WHERE false)
        UNION ALL BY NAME
        SELECT * FROM read_parquet($files, hive_partitioning = false, union_by_name = true)
    ),
    bars AS (
        -- one row per (ticker, bar_ts) even if silver ever held two: newest ingestion wins
        SELECT ticker, bar_ts, open, high, low, close, volume, currency
        FROM silver
        WHERE list_contains($tickers::VARCHAR[], ticker)
        QUALIFY row_number() OVER (PARTITION BY ticker, bar_ts ORDER BY ingested_at DESC, execution_id DESC) = 1
    ),
    hourly AS (
        SELECT ticker,
               date_trunc('hour', bar_ts)                                   AS "hour",
               arg_min(open, bar_ts)                                        AS open,
               max(high)                                                    AS high,
               min(low)                                                     AS low,
               arg_max(close, bar_ts)                                       AS close,
               sum(volume)::BIGINT                                          AS volume,
               CASE WHEN sum(volume) > 0
                    THEN sum((high + low + close) / 3 * volume) / sum(volume) END AS vwap,
               count(*)::BIGINT                                             AS bar_count,
               -- one response's bars share one currency; the hour's last bar that names one
               arg_max(currency, bar_ts) FILTER (WHERE currency IS NOT NULL) AS currency
        FROM bars
        GROUP BY ticker, date_trunc('hour', bar_ts)
    ),
    chained AS (
        SELECT *,
               lag("hour") OVER w AS prev_hour,
               lag(close)  OVER w AS prev_close
        FROM hourly
        WINDOW w AS (PARTITION BY ticker ORDER BY "hour")
    ),
    derived AS (
        SELECT ticker, "hour", open, high, low, close, volume, vwap, bar_count, currency,
               CASE WHEN prev_hour >= "hour" - INTERVAL 7 DAY AND prev_close > 0
                    THEN (close / prev_close - 1) * 100 END                AS return_pct,
               CASE WHEN low > 0 THEN (high - low) / low * 100 END         AS range_pct,
               -- earliest date whose bars can change this row's return_pct
               CAST(CASE WHEN prev_hour >= "hour" - INTERVAL 7 DAY THEN prev_hour
                         ELSE "hour" - INTERVAL 7 DAY END AS DATE)          AS depends_from
        FROM chained
    )
    SELECT ticker, "hour", open, high, low, close, volume, vwap, bar_count, return_pct, range_pct, currency
    FROM derived
    WHERE EXISTS (SELECT 1 FROM unnest($touched::DATE[]) AS touched(day)
                  WHERE touched.day BETWEEN derived.depends_from AND CAST(derived."hour" AS DATE))
) AS s
ON t.ticker = s.ticker AND t."hour" = s."hour"
   AND t."hour" >= $target_from::TIMESTAMPTZ AND t."hour" < $target_until::TIMESTAMPTZ
   AND list_contains($target_dates::DATE[], CAST(t."hour" AS DATE))
WHEN MATCHED AND (t.open IS DISTINCT FROM s.open OR t.high IS DISTINCT FROM s.high OR t.low IS DISTINCT FROM s.low
                  OR t.close IS DISTINCT FROM s.close OR t.volume IS DISTINCT FROM s.volume
                  OR t.bar_count IS DISTINCT FROM s.bar_count
                  OR t.return_pct IS DISTINCT FROM s.return_pct OR t.range_pct IS DISTINCT FROM s.range_pct
                  OR t.currency IS DISTINCT FROM s.currency
                  -- a float sum's last bits depend on summation order: only a real change counts
                  OR (t.vwap IS NULL) <> (s.vwap IS NULL) OR abs(t.vwap - s.vwap) > 1e-12 * abs(s.vwap)) THEN
    UPDATE SET open = s.open, high = s.high, low = s.low, close = s.close, volume = s.volume, vwap = s.vwap,
               bar_count = s.bar_count, return_pct = s.return_pct, range_pct = s.range_pct, currency = s.currency,
               execution_id = $execution_id, updated_at = $updated_at
WHEN NOT MATCHED BY TARGET THEN
    INSERT (ticker, "hour", open, high, low, close, volume, vwap, bar_count, return_pct, range_pct, currency, execution_id, updated_at)
    VALUES (s.ticker, s."hour", s.open, s.high, s.low, s.close, s.volume, s.vwap, s.bar_count, s.return_pct, s.range_pct, s.currency,
            $execution_id, $updated_at);
