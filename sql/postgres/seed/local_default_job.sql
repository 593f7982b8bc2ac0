-- Local/dev only (applied by `fp run` and the tests, never by production migrations): the default job.
INSERT INTO ingestion_job_config
    (job_name, tickers, interval, overlap, bucket_name, silver_bucket_name, provider, bar_interval, lookback_seconds, active, updated_by)
VALUES
    ('financial_extract', 'AAPL,MSFT,GOOGL,AMZN,META,NVDA,TSLA,JPM,V,XOM', 3600, 10800,
     'fp-bronze', 'fp-silver', 'synthetic', '1h', 604800, true, 'local-seed')
ON CONFLICT (job_name) DO NOTHING;
