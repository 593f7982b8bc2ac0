-- After a MERGE (or alone, when silver touched nothing): the job's gold hours on the touched dates ($tickers),
-- and the table's newest hour (the freshness mark).
-- Only partitions from $newest_from on are read: the earliest touched date, which holds the newest hour whenever
-- the run wrote anything. A run that touched nothing binds an empty $touched (hours_in_scope 0) and the earliest
-- date as $newest_from, so it still reports the table's newest hour.
SELECT (SELECT count(*) FROM financial_data_hour WHERE list_contains($touched::DATE[], CAST("hour" AS DATE))
                                                        AND list_contains($tickers::VARCHAR[], ticker)) AS hours_in_scope,
       (SELECT max("hour") FROM financial_data_hour WHERE CAST("hour" AS DATE) >= $newest_from::DATE)        AS newest_hour;
