-- A job row inserted without a provider became 'synthetic' (0001's column default): fake data in production, without
-- a word. Every writer names the provider (JobConfigRepository.UpsertAsync behind fp jobs set, the tests and the
-- benchmarks; the local seed), so from here an INSERT that leaves it out fails on NOT NULL instead. Existing rows
-- keep their value.
ALTER TABLE ingestion_job_config ALTER COLUMN provider DROP DEFAULT;
