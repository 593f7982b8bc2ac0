-- The quarantine as it stands, BigQuery: the same view as financial_quotes_rejected_current in
-- sql/duckdb/010_silver_views.sql, over the external tables of silver_external_table.sql (this file's name sorts
-- after that one, so the deployment creates the tables first). Placeholders as there: ${project}, ${dataset}.
--
-- One row per (ticker, bar_ts): its latest rejection (ingested_at, then rejected_by; rule and reason only break a tie
-- inside one execution), and only while silver does not hold the bar from that fetch or a later one.
-- financial_quotes_rejected keeps every copy: each execution that fetched a bad bar (the next window's overlap, a
-- backfill) set it aside in its own object, which is what reconciles an execution (silver + quarantine + superseded
-- = bronze), so count bad bars here and audit executions there. A bar rejected once and accepted by a later fetch
-- is in silver and not here; one whose newest fetch was rejected while silver keeps an older accepted value is still
-- here. The anti-join scans silver's ticker, bar_ts and ingested_at columns (every silver object, three columns).
CREATE OR REPLACE VIEW `${project}.${dataset}.financial_quotes_rejected_current`
OPTIONS (
    description = 'Quarantined bars as they stand: the latest rejection of each (ticker, bar_ts) that silver does not hold from that fetch or a later one'
)
AS
SELECT r.*
FROM `${project}.${dataset}.financial_quotes_rejected` AS r
WHERE NOT EXISTS (
    SELECT 1 FROM `${project}.${dataset}.financial_quotes_silver` AS s
    WHERE s.ticker = r.ticker AND s.bar_ts = r.bar_ts AND s.ingested_at >= r.ingested_at)
QUALIFY ROW_NUMBER() OVER (PARTITION BY r.ticker, r.bar_ts ORDER BY r.ingested_at DESC, r.rejected_by DESC, r.rule, r.reason) = 1;
