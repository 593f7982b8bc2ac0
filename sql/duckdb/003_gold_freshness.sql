-- After a MERGE (or alone, when silver touched nothing): the job's gold hours on the touched dates ($tickers),
-- and the table's newest hour (the freshness mark).
-- Only partitions from $newest_from on are read: the earliest touched date, which holds the newest hour whenever
-- the run wrote anything. A run that touched nothing binds an empty $touched (hours_in_scope 0) and the earliest
-- date as $newest_from, so it still reports the table's newest hour.
-- Both filter on "hour" itself ($touched_from/$touched_until: midnight UTC of the first touched date and of the
-- day after the last, equal when nothing was touched; $newest_from: midnight UTC), so the table's zone maps skip
-- older row groups: a cast of the column in the filter read and converted every row of the table on every run.
SELECT (SELECT count(*) FROM financial_data_hour WHERE "hour" >= $touched_from::TIMESTAMPTZ AND "hour" < $touched_until::TIMESTAMPTZ
                                                        AND list_contains($touched::DATE[], CAST("hour" AS DATE))
                                                        AND list_contains($tickers::VARCHAR[], ticker)) AS hours_in_scope,
       (SELECT max("hour") FROM financial_data_hour WHERE "hour" >= $newest_from::TIMESTAMPTZ)                AS newest_hour;
