-- After a MERGE (or alone, when silver touched nothing): the job's gold hours on the touched dates (@tickers),
-- and the table's newest hour (the freshness mark).
-- Both filters are on the partitioning expression with constant parameters, so only the touched
-- partitions and those from @newest_from (the earliest touched date) on are read. A run that touched
-- nothing sends an empty @touched_dates (hours_in_scope 0: IN UNNEST of an empty or NULL array matches
-- nothing) and 0001-01-01 as @newest_from: it still reports the table's newest hour, reading the `hour`
-- column of every partition.
SELECT
    (SELECT COUNT(*) FROM `${project}.${dataset}.financial_data_hour`
     WHERE DATE(`hour`) IN UNNEST(@touched_dates) AND ticker IN UNNEST(@tickers)) AS hours_in_scope,
    (SELECT MAX(`hour`) FROM `${project}.${dataset}.financial_data_hour`
     WHERE DATE(`hour`) >= @newest_from)                                  AS newest_hour
