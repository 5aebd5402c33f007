-- Integrations (configured app instances) and custom app packages.

-- A custom app version installed in a workspace: the package as uploaded and its parsed manifest.
CREATE TABLE app_packages (
  id           uuid PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  identifier   text NOT NULL,
  version      text NOT NULL,
  title        text NOT NULL,
  manifest     jsonb NOT NULL,
  package      bytea NOT NULL,
  sha256       text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  created_by   text NOT NULL DEFAULT '',
  UNIQUE (workspace_id, identifier, version)
);

CREATE TABLE integrations (
  id                   uuid PRIMARY KEY,
  workspace_id         uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  name                 text NOT NULL,
  display_name         text NOT NULL,
  description          text NOT NULL DEFAULT '',
  app                  text NOT NULL,
  -- NULL follows the newest installed version of the app.
  app_version          text,
  -- The non-secret fields; the secret ones are sealed together as one JSON object.
  configuration        jsonb NOT NULL DEFAULT '{}',
  secrets_encrypted    bytea,
  secrets_key_version  integer,
  secret_keys          text[] NOT NULL DEFAULT '{}',
  is_default           boolean NOT NULL DEFAULT false,
  expires_at           timestamptz,
  allowed_networks     text[] NOT NULL DEFAULT '{}',
  verify_tls           boolean NOT NULL DEFAULT true,
  timeout_ms           integer NOT NULL DEFAULT 30000,
  retries              integer NOT NULL DEFAULT 2,
  -- Rate limit: at most rate_requests per rate_seconds, across every process (GCRA on rate_tat).
  rate_requests        integer,
  rate_seconds         integer,
  rate_tat             timestamptz,
  connectivity_status  text NOT NULL DEFAULT 'untested',
  connectivity_message text NOT NULL DEFAULT '',
  tested_at            timestamptz,
  last_used_at         timestamptz,
  created_at           timestamptz NOT NULL DEFAULT now(),
  created_by           text NOT NULL DEFAULT '',
  updated_at           timestamptz NOT NULL DEFAULT now(),
  UNIQUE (workspace_id, name)
);
-- At most one default integration per app in a workspace.
CREATE UNIQUE INDEX integrations_default_idx ON integrations (workspace_id, app) WHERE is_default;

-- Networks steps of the workspace may reach despite the SSRF rules (CIDRs).
ALTER TABLE workspaces ADD COLUMN http_allowed_networks text[] NOT NULL DEFAULT '{}';
