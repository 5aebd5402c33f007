-- Triggers (webhook URLs, schedules), approvals, nested runs, concurrency caps, out-of-line outputs
-- and execution retention.

-- Webhook trigger: the URL token is looked up by its SHA-256 and kept sealed for editors to read.
ALTER TABLE workflows
  ADD COLUMN webhook_token_hash      bytea UNIQUE,
  ADD COLUMN webhook_token_encrypted bytea,
  ADD COLUMN webhook_key_version     integer,
  -- Schedule trigger: the next tick to fire. A scheduler fires it and moves it on in one
  -- transaction under a row lock, so each tick fires once however many schedulers run.
  ADD COLUMN schedule_next_at        timestamptz;
CREATE INDEX workflows_schedule_due_idx ON workflows (schedule_next_at NULLS FIRST)
  WHERE enabled AND published_revision_id IS NOT NULL;

ALTER TABLE executions
  ADD COLUMN parent_execution_id uuid REFERENCES executions (id) ON DELETE SET NULL,
  ADD COLUMN parent_step_key     text,
  -- Copied from the revision when queued, so claims and pruning need no join.
  ADD COLUMN concurrency_cap     integer,
  ADD COLUMN retention_days      integer NOT NULL DEFAULT 30,
  -- Bytes of step output recorded so far, for the execution size cap.
  ADD COLUMN size_bytes          bigint NOT NULL DEFAULT 0;
CREATE INDEX executions_parent_idx ON executions (parent_execution_id) WHERE parent_execution_id IS NOT NULL;
CREATE INDEX executions_finished_idx ON executions (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX executions_running_workflow_idx ON executions (workflow_id) WHERE status = 'running';

-- Step outputs over the size threshold live here; the step run keeps a reference.
CREATE TABLE step_outputs (
  id            uuid PRIMARY KEY,
  execution_id  uuid NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
  key           text NOT NULL,
  size_bytes    integer NOT NULL,
  data          jsonb NOT NULL
);
CREATE INDEX step_outputs_execution_idx ON step_outputs (execution_id);

-- Approval steps: one row per asked question. Links are signed tokens naming the approval and the
-- approver; this row makes them single-use.
CREATE TABLE approvals (
  id               uuid PRIMARY KEY,
  workspace_id     uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  execution_id     uuid NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
  step_key         text NOT NULL,
  message          text NOT NULL,
  options          text[] NOT NULL,
  approvers        text[] NOT NULL DEFAULT '{}',
  requester        text NOT NULL DEFAULT '',
  requester_may_approve boolean NOT NULL DEFAULT false,
  default_outcome  text,
  expires_at       timestamptz NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  decided_at       timestamptz,
  outcome          text,
  decided_by       text,
  comment          text,
  CONSTRAINT approvals_step_key UNIQUE (execution_id, step_key)
);
CREATE INDEX approvals_pending_idx ON approvals (workspace_id, created_at DESC) WHERE decided_at IS NULL;

-- Trigger deliveries that started no run (a disabled or unpublished workflow, a refused header):
-- shown in the activity log.
CREATE TABLE trigger_events (
  id            uuid PRIMARY KEY,
  workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  workflow_id   uuid REFERENCES workflows (id) ON DELETE CASCADE,
  workflow_name text NOT NULL DEFAULT '',
  source        text NOT NULL,
  reason        text NOT NULL,
  body          jsonb,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trigger_events_workspace_idx ON trigger_events (workspace_id, created_at);

-- Claims the oldest runnable execution in one round trip: queued, a wait that is due, or a run whose
-- worker stopped renewing its lease. SKIP LOCKED lets any number of workers claim at once. A
-- workflow with a concurrency cap is claimed under an advisory lock on the workflow, after counting
-- its live runs, so the cap holds across workers; a workflow at its cap (or in p_excluded, the
-- caller's fair-share list) is passed over for the next candidate. `first_claim` is true when the
-- run never ran before (it has no checkpoints of its own), which spares the worker a read.
CREATE FUNCTION osprey_claim_execution(p_owner text, p_lease_ms float8, p_excluded uuid[])
RETURNS TABLE (claimed executions, first_claim boolean) LANGUAGE plpgsql AS $$
DECLARE
  c record;
  skip uuid[] := coalesce(p_excluded, '{}');
  live integer;
BEGIN
  FOR i IN 1..50 LOOP
    SELECT id, workflow_id, concurrency_cap, started_at INTO c FROM executions
     WHERE status IN ('queued', 'waiting', 'running') AND run_after <= now()
       AND (status <> 'running' OR lease_expires_at < now())
       AND workflow_id <> ALL (skip)
     ORDER BY run_after, created_at
     FOR UPDATE SKIP LOCKED LIMIT 1;
    IF NOT FOUND THEN RETURN; END IF;
    IF c.concurrency_cap IS NOT NULL THEN
      PERFORM pg_advisory_xact_lock(hashtextextended(c.workflow_id::text, 7411));
      SELECT count(*) INTO live FROM executions
       WHERE workflow_id = c.workflow_id AND status = 'running' AND lease_expires_at >= now() AND id <> c.id;
      IF live >= c.concurrency_cap THEN
        skip := skip || c.workflow_id;
        CONTINUE;
      END IF;
    END IF;
    RETURN QUERY
      WITH u AS (
        UPDATE executions e SET status = 'running', lease_owner = p_owner,
               lease_expires_at = now() + make_interval(secs => p_lease_ms / 1000),
               started_at = coalesce(e.started_at, now()),
               resumes = e.resumes + (CASE WHEN e.status = 'running' THEN 1 ELSE 0 END)
         WHERE e.id = c.id RETURNING e.*)
      SELECT ROW(u.*)::executions, c.started_at IS NULL FROM u;
    RETURN;
  END LOOP;
END $$;
