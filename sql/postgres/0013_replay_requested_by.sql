-- Who asked for a replay (fp replay --by) and when. The name went only into the reset row's error text, which the
-- replayed attempt's claim clears, and the attempt the reset replaces is archived before the reset: once the replay
-- ran, no row held it. The reset sets these; the claim that starts the replayed attempt keeps them (a retry or a
-- takeover clears them: that attempt is no replay), and ingestion_job_attempt keeps them with the attempt they
-- belong to when a later one replaces it. NULL for attempts that are no replay and for rows before this migration.
ALTER TABLE ingestion_job_execution
    ADD COLUMN replay_requested_by text,
    ADD COLUMN replay_requested_at timestamptz,
    ADD CONSTRAINT ingestion_job_execution_replay_requested_check
        CHECK ((replay_requested_by IS NULL) = (replay_requested_at IS NULL));
ALTER TABLE ingestion_job_attempt
    ADD COLUMN replay_requested_by text,
    ADD COLUMN replay_requested_at timestamptz;
