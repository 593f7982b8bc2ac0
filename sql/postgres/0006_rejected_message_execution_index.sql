-- fp runs --execution-id lists the rejections that named an execution. execution_id is text (a rejected message may
-- carry anything there) and is compared in lower case, so the index is on that expression.
CREATE INDEX IF NOT EXISTS ix_rejected_message_execution ON rejected_message (lower(execution_id));
