-- After a MERGE: gold hours of the touched dates, and the table's newest hour (the freshness mark).
-- Only partitions from the earliest touched date on are read; they hold the newest hour whenever the run
-- wrote anything.
SELECT (SELECT count(*) FROM financial_data_hour WHERE list_contains($touched::DATE[], CAST("hour" AS DATE))) AS hours_in_scope,
       (SELECT max("hour") FROM financial_data_hour WHERE CAST("hour" AS DATE) >= $newest_from::DATE)        AS newest_hour;
