-- After a MERGE: gold hours of the touched dates, and the table's newest hour (the freshness mark).
-- Both filters are on the partitioning expression with constant parameters, so only the touched
-- partitions and those from @newest_from on are read.
SELECT
    (SELECT COUNT(*) FROM `${project}.${dataset}.financial_data_hour`
     WHERE DATE(`hour`) IN UNNEST(@touched_dates))                        AS hours_in_scope,
    (SELECT MAX(`hour`) FROM `${project}.${dataset}.financial_data_hour`
     WHERE DATE(`hour`) >= @newest_from)                                  AS newest_hour
