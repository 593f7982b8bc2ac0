-- When a stage's completion event was first published: by the stage after its SUCCESS commit, or by a redelivery
-- that re-emitted the stored event. The row turns SUCCESS before the publish, so a stage that could never publish (its
-- service account lost roles/pubsub.publisher on the completion topic, the topic was deleted) stayed SUCCESS while
-- its trigger was redelivered, failed and dead-lettered, and the Alert function took that dead letter for a
-- duplicate's and posted nothing: the next stage never ran and nothing said so. NULL on a SUCCESS row: no publish of
-- its completion event has succeeded (its dead letter is alerted); NULL on every other row (a retry or a replay's
-- reset clears it). Whether an older SUCCESS row's event went out cannot be known: they are taken as published
-- (their finish time), so none of them alerts.
ALTER TABLE ingestion_job_execution ADD COLUMN IF NOT EXISTS completion_published_at timestamptz;
UPDATE ingestion_job_execution SET completion_published_at = COALESCE(finished_at, updated_at)
WHERE status = 'SUCCESS' AND completion_published_at IS NULL;
-- The same for the attempts kept in ingestion_job_attempt: whether a success a replay replaced had published its event.
ALTER TABLE ingestion_job_attempt ADD COLUMN IF NOT EXISTS completion_published_at timestamptz;
UPDATE ingestion_job_attempt SET completion_published_at = COALESCE(finished_at, replaced_at)
WHERE status = 'SUCCESS' AND completion_published_at IS NULL;
