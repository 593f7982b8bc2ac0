-- The stock splits Extract has restated (SplitRestatement): once a ticker's history is on a split's basis, a later run
-- whose window still shows the split (the overlap, a backfill over its date) need not list and read the job's silver
-- history again to find out. One row per (job, ticker, split); written in the statement that commits the bronze stage's
-- SUCCESS (ExecutionLedger.CompleteAsync), so an attempt that crashed, failed or lost its lease before its commit
-- records nothing. complete = false: some bars stayed on the old basis (beyond the provider's reach, past the run's row
-- cap, a failed re-fetch, or bronze of an earlier run not yet in silver); the next run that sees the split tries again.
-- A complete row is never downgraded, and the first execution that completed it stays its restated_by.
-- fp prune leaves this table alone: a row is a fact about the job's silver data, not about an execution (restated_by
-- may name a pruned one), a job sees a few splits a year, and pruning a row would only bring the scan back.
CREATE TABLE IF NOT EXISTS split_restatement (
    job_name        varchar(64)       NOT NULL,
    ticker          varchar(32)       NOT NULL,
    split_ts        timestamptz       NOT NULL,
    numerator       double precision  NOT NULL CHECK (numerator > 0),
    denominator     double precision  NOT NULL CHECK (denominator > 0),
    complete        boolean           NOT NULL,
    bars            bigint            NOT NULL CHECK (bars >= 0),  -- bars before the run's window it re-fetched
    restated_by     uuid              NOT NULL,                    -- the bronze execution whose SUCCESS recorded it
    restated_at     timestamptz       NOT NULL,
    PRIMARY KEY (job_name, ticker, split_ts)
);
