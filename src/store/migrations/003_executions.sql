-- Executions: a run of a workflow revision, queued and claimed in Postgres (SKIP LOCKED), with a
-- lease that a live worker renews. Step runs are the checkpoints: a completed step never runs again.

CREATE TABLE executions (
  id                uuid PRIMARY KEY,
  workspace_id      uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  workflow_id       uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
  revision_id       uuid NOT NULL REFERENCES workflow_revisions (id) ON DELETE CASCADE,
  status            text NOT NULL CHECK (status IN ('queued', 'running', 'waiting', 'succeeded', 'failed', 'cancelled')),
  trigger           jsonb NOT NULL,
  input             jsonb NOT NULL,
  output            jsonb,
  error             jsonb,
  run_after         timestamptz NOT NULL DEFAULT now(),
  lease_owner       text,
  lease_expires_at  timestamptz,
  resumes           integer NOT NULL DEFAULT 0,
  created_at        timestamptz NOT NULL DEFAULT now(),
  started_at        timestamptz,
  finished_at       timestamptz
);
-- What workers look for: runnable now, oldest first.
CREATE INDEX executions_runnable_idx ON executions (run_after, created_at) WHERE status IN ('queued', 'waiting', 'running');
CREATE INDEX executions_workspace_idx ON executions (workspace_id, created_at DESC, id);
CREATE INDEX executions_workflow_idx ON executions (workflow_id, created_at DESC);

CREATE TABLE step_runs (
  execution_id  uuid NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
  key           text NOT NULL,
  step_id       text NOT NULL,
  kind          text NOT NULL,
  status        text NOT NULL CHECK (status IN ('running', 'waiting', 'succeeded', 'failed')),
  attempt       integer NOT NULL DEFAULT 1,
  -- How many times this row was written: 1 for a step that ran once, 2 for a wait (parked, then done).
  writes        integer NOT NULL DEFAULT 1,
  seq           bigserial,
  input         jsonb,
  output        jsonb,
  error         jsonb,
  resume_at     timestamptz,
  started_at    timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz,
  PRIMARY KEY (execution_id, key)
);
