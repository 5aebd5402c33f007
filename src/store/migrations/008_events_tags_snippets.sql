-- Orchestrate parity: readable workflow ids, tags that gate runs, labels, configured triggers,
-- source events, inbound event webhooks and code snippets.

-- PLB1001-style ids for workflows, shown by the Orchestrate API.
CREATE SEQUENCE workflow_readable_seq START 1001;
ALTER TABLE workflows ADD COLUMN readable_number bigint NOT NULL DEFAULT nextval('workflow_readable_seq');
ALTER SEQUENCE workflow_readable_seq OWNED BY workflows.readable_number;

-- Tags describe workflows (workflows.tags holds their titles) and gate runs: a member whose role
-- cannot edit workflows (an operator) may run only workflows carrying a tag granted to them.
CREATE TABLE tags (
  id           uuid PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  title        text NOT NULL,
  description  text NOT NULL DEFAULT '',
  color        text NOT NULL DEFAULT '#6B7280',
  created_at   timestamptz NOT NULL DEFAULT now(),
  created_by   text NOT NULL DEFAULT '',
  updated_at   timestamptz NOT NULL DEFAULT now(),
  updated_by   text NOT NULL DEFAULT '',
  UNIQUE (workspace_id, title)
);

-- Who a tag is granted to: a user (by id) or an API key (by id).
CREATE TABLE tag_grants (
  tag_id       uuid NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
  grantee_type text NOT NULL CHECK (grantee_type IN ('user', 'api_key')),
  grantee_id   uuid NOT NULL,
  PRIMARY KEY (tag_id, grantee_type, grantee_id)
);
CREATE INDEX tag_grants_grantee_idx ON tag_grants (grantee_id);

-- Data labels: what configured triggers attach to events and event-triggered workflows listen on.
CREATE TABLE labels (
  id           uuid PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  title        text NOT NULL,
  description  text NOT NULL DEFAULT '',
  color        text NOT NULL DEFAULT '#2563EB',
  created_at   timestamptz NOT NULL DEFAULT now(),
  created_by   text NOT NULL DEFAULT '',
  UNIQUE (workspace_id, title)
);

-- Configured triggers: (source app, event type) → labels.
CREATE TABLE event_triggers (
  id                uuid PRIMARY KEY,
  workspace_id      uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  app_identifier    text NOT NULL,
  action_identifier text NOT NULL,
  labels            text[] NOT NULL,
  is_active         boolean NOT NULL DEFAULT true,
  created_at        timestamptz NOT NULL DEFAULT now(),
  created_by        text NOT NULL DEFAULT '',
  updated_at        timestamptz NOT NULL DEFAULT now(),
  updated_by        text NOT NULL DEFAULT '',
  UNIQUE (workspace_id, app_identifier, action_identifier)
);

-- Source events. The runs they started are listed in execution_ids; an event that started none is
-- kept (processed = false) with the reason, and shown in the activity log.
CREATE TABLE events (
  id                uuid PRIMARY KEY,
  workspace_id      uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  title             text NOT NULL,
  app_identifier    text NOT NULL,
  action_identifier text NOT NULL,
  data              jsonb NOT NULL,
  extra_data        jsonb NOT NULL DEFAULT '{}',
  labels            text[] NOT NULL DEFAULT '{}',
  source            text NOT NULL,
  created_by        text NOT NULL DEFAULT '',
  created_at        timestamptz NOT NULL DEFAULT now(),
  execution_ids     uuid[] NOT NULL DEFAULT '{}',
  reason            text
);
CREATE INDEX events_workspace_idx ON events (workspace_id, created_at DESC, id);
CREATE INDEX events_created_idx ON events (created_at);

-- Inbound webhooks that raise events. Only the token's SHA-256 is kept: it is shown once.
CREATE TABLE event_webhooks (
  id           uuid PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  title        text NOT NULL,
  description  text NOT NULL DEFAULT '',
  token_hash   bytea NOT NULL UNIQUE,
  enabled      boolean NOT NULL DEFAULT true,
  created_at   timestamptz NOT NULL DEFAULT now(),
  created_by   text NOT NULL DEFAULT '',
  rotated_at   timestamptz,
  last_used_at timestamptz,
  UNIQUE (workspace_id, title)
);

-- Code snippets that code steps reuse. Python (imported from Orchestrate) is stored but not run.
CREATE TABLE code_snippets (
  id           uuid PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  name         text NOT NULL,
  title        text NOT NULL,
  description  text NOT NULL DEFAULT '',
  language     text NOT NULL CHECK (language IN ('javascript', 'python')),
  code         text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  created_by   text NOT NULL DEFAULT '',
  updated_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (workspace_id, name)
);
