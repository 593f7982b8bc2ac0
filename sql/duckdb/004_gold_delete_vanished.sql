-- Deletes the job's gold hours on the touched dates that silver no longer holds (a bar the provider withdrew and a
-- replay's silver dropped), in the MERGE's transaction: what sql/bigquery/gold_merge.sql's WHEN NOT MATCHED BY
-- SOURCE branch does, as its own statement (see 002_gold_merge.sql for why).
-- union_by_name: the files may mix silver schemas (with and without the later currency columns).
-- Bound parameters:
--   $files        VARCHAR[]  the MERGE's silver Parquet files (a superset of the touched dates' partitions)
--   $tickers      VARCHAR[]  the job's tickers: another job's hours are never deleted
--   $touched      DATE[]     bar dates silver rewrote
--   $touched_from, $touched_until  TIMESTAMP  midnight (UTC) of the first touched date and of the day after the last
DELETE FROM financial_data_hour AS t
WHERE t."hour" >= $touched_from::TIMESTAMPTZ AND t."hour" < $touched_until::TIMESTAMPTZ
  AND list_contains($touched::DATE[], CAST(t."hour" AS DATE))
  AND list_contains($tickers::VARCHAR[], t.ticker)
  AND NOT EXISTS (SELECT 1
                  FROM read_parquet($files, hive_partitioning = false, union_by_name = true) AS b
                  WHERE b.ticker = t.ticker AND date_trunc('hour', b.bar_ts) = t."hour");
