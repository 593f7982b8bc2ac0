-- The seed's varchar(1000) holds ~150 tickers; a job of 500 (the extract benchmark, a broad index) needs more.
-- Each ticker is still validated (1-20 of A-Z 0-9 . ^ = -) when the row is read.
ALTER TABLE ingestion_job_config ALTER COLUMN tickers TYPE text;
-- The execution row keeps the tickers it ran with (the seed's column): same width.
ALTER TABLE ingestion_job_execution ALTER COLUMN tickers TYPE text;
