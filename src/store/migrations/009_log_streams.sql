-- Log streams: the audit log and the activity log delivered to SIEMs from a checkpoint.

-- A commit-ordered position for activity entries: the transaction that ended the run (or stored
-- the refused delivery). A stream reads only positions below the oldest transaction still in
-- flight (pg_snapshot_xmin), so an entry that commits late is never behind its checkpoint.
ALTER TABLE executions ADD COLUMN stream_xid xid8;
CREATE INDEX executions_stream_idx ON executions (workspace_id, stream_xid, id) WHERE stream_xid IS NOT NULL;
ALTER TABLE trigger_events ADD COLUMN stream_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX trigger_events_stream_idx ON trigger_events (workspace_id, stream_xid, id);

CREATE TABLE log_streams (
  id               uuid PRIMARY KEY,
  workspace_id     uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  name             text NOT NULL,
  -- 'audit', 'activity' or both.
  logs             text[] NOT NULL,
  -- {actions?: [], workflow_ids?: [], statuses?: []}
  filter           jsonb NOT NULL DEFAULT '{}',
  -- {type, url?, index?, host?, port?, transport?, path?, …}: no secret; secret_name names the
  -- workspace secret holding the HEC token, the bearer/API key or the HMAC key.
  destination      jsonb NOT NULL,
  secret_name      text,
  batch_size       integer NOT NULL DEFAULT 500,
  enabled          boolean NOT NULL DEFAULT true,
  -- Checkpoints: audit {ts, seq, id}; activity {xid, kind, id}. They move only after the
  -- destination acknowledged the batch.
  audit_cursor     jsonb,
  activity_cursor  jsonb,
  start_time       timestamptz NOT NULL DEFAULT now(),
  delivered        bigint NOT NULL DEFAULT 0,
  last_delivered_at timestamptz,
  -- The newest entry delivered (its log time), for the lag.
  last_entry_at    timestamptz,
  failures         integer NOT NULL DEFAULT 0,
  last_error       text,
  paused_at        timestamptz,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  lease_owner      text,
  lease_expires_at timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  created_by       text NOT NULL DEFAULT '',
  updated_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (workspace_id, name)
);
CREATE INDEX log_streams_due_idx ON log_streams (next_attempt_at) WHERE enabled AND paused_at IS NULL;
