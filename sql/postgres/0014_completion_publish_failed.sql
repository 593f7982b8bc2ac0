-- When a publish of a SUCCESS row's completion event last failed (the stage's own publish after its commit, or a
-- redelivery's re-emit). completion_published_at alone cannot tell "never published" from "not recorded": a success
-- committed by a revision older than migration 0012 (still serving while a deploy rolls out), or one a replay reset
-- between the publish and its record, has no publish time but did publish. A SUCCESS row is reported unpublished (its
-- dead letter alerted, fp runs saying so) only when a publish of it failed and none has succeeded since. NULL on
-- every row to start with; a claim or a replay's reset clears it.
ALTER TABLE ingestion_job_execution ADD COLUMN IF NOT EXISTS completion_publish_failed_at timestamptz;
