-- Migration of a gold table an earlier version created without `currency` (BigQuery); same column as the last one of
-- gold_financial_data_hour.sql. ${project} and ${dataset} are replaced by validated identifiers.
--
-- A schema change is a table metadata update, and BigQuery limits those per table (rateLimitExceeded); a no-op
-- ADD COLUMN IF NOT EXISTS may count too. So BigQueryGoldWarehouse runs it only when tables.get shows the table without the
-- column (once, in practice); fp deploy apply runs it after the CREATE (one-off). ADD COLUMN appends: the column ends
-- last, as in a new table. Hours merged before read NULL until a MERGE rewrites them.
ALTER TABLE `${project}.${dataset}.financial_data_hour` ADD COLUMN IF NOT EXISTS currency STRING OPTIONS (description = 'Currency of the prices as the provider names it (e.g. USD, JPY, GBp); NULL when unknown');
