-- Alerts posted to Slack (or logged when no webhook is configured), one row per alert under a unique dedupe key:
--  * dead letters: source subscription + original publish time + a hash of data and attributes, so the same
--    message dead-lettered twice (Pub/Sub's dead-lettering is best effort) or redelivered to the Alert function
--    after a successful post is announced once;
--  * zombie takeovers: execution_id + stage + attempt.
-- Claim before post: SENDING with a claim token; SENT after the webhook answered 2xx; FAILED (with the error)
-- when it did not, so the redelivery claims it again. A SENDING row whose claim is stale (the poster died) may
-- be claimed again. A crash between the webhook's 2xx and the SENT update can post twice: at least once wins
-- over at most once for alerts.

CREATE TABLE alert_notification (
    id              bigserial     PRIMARY KEY,
    dedupe_key      varchar(300)  NOT NULL,
    kind            varchar(32)   NOT NULL CHECK (kind IN ('dead_letter', 'zombie_takeover')),
    execution_id    uuid,
    stage           varchar(16),
    status          varchar(16)   NOT NULL CHECK (status IN ('SENDING', 'SENT', 'FAILED')),
    channel         varchar(16)   CHECK (channel IN ('slack', 'log')),
    attempts        integer       NOT NULL DEFAULT 1,
    claim_token     uuid          NOT NULL,
    claimed_at      timestamptz   NOT NULL,
    sent_at         timestamptz,
    last_error      text,
    message         text          NOT NULL,   -- the text that was (or is being) posted
    created_at      timestamptz   NOT NULL,
    updated_at      timestamptz   NOT NULL,
    CONSTRAINT uq_alert_notification_dedupe_key UNIQUE (dedupe_key)
);
CREATE INDEX ix_alert_notification_execution ON alert_notification (execution_id);
