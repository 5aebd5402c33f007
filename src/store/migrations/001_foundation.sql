-- Foundation: workspaces, users and memberships, API keys and tokens, sessions, the keyring,
-- secrets, workspace variables and the hash-chained audit log.

CREATE TABLE workspaces (
  id          uuid PRIMARY KEY,
  name        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT workspaces_name_key UNIQUE (name)
);

CREATE TABLE users (
  id              uuid PRIMARY KEY,
  email           text NOT NULL,
  name            text NOT NULL DEFAULT '',
  password_hash   text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  last_login_at   timestamptz,
  CONSTRAINT users_email_key UNIQUE (email)
);

-- A user's role in one workspace. status: INVITATION_SENT until the invitation is accepted.
CREATE TABLE memberships (
  workspace_id      uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role              text NOT NULL CHECK (role IN ('owner', 'contributor', 'creator', 'operator', 'viewer')),
  status            text NOT NULL CHECK (status IN ('INVITATION_SENT', 'VERIFIED')),
  invitation_hash   bytea,
  invitation_expires_at timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, user_id)
);
CREATE UNIQUE INDEX memberships_invitation_hash_idx ON memberships (invitation_hash) WHERE invitation_hash IS NOT NULL;
CREATE INDEX memberships_user_idx ON memberships (user_id);

-- Data keys, wrapped (AES-256-GCM) by the master key. The highest active version encrypts.
CREATE TABLE data_keys (
  version     integer PRIMARY KEY,
  wrapped_key bytea NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  retired_at  timestamptz
);

CREATE TABLE api_keys (
  id                  uuid PRIMARY KEY,
  workspace_id        uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  client_id           text NOT NULL,
  secret_encrypted    bytea NOT NULL,
  secret_key_version  integer NOT NULL REFERENCES data_keys (version),
  name                text NOT NULL,
  type                text NOT NULL CHECK (type IN ('private', 'service')),
  role                text NOT NULL CHECK (role IN ('owner', 'contributor', 'creator', 'operator', 'viewer')),
  user_id             uuid REFERENCES users (id) ON DELETE CASCADE,
  created_by_email    text NOT NULL DEFAULT '',
  enabled             boolean NOT NULL DEFAULT true,
  expires_at          timestamptz,
  created_at          timestamptz NOT NULL DEFAULT now(),
  last_authenticated_at timestamptz,
  CONSTRAINT api_keys_client_id_key UNIQUE (client_id),
  CONSTRAINT api_keys_workspace_name_key UNIQUE (workspace_id, name)
);

-- Bearer tokens: only a SHA-256 of the token is kept.
CREATE TABLE access_tokens (
  token_hash    bytea PRIMARY KEY,
  api_key_id    uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
  expires_at    timestamptz NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX access_tokens_expiry_idx ON access_tokens (expires_at);
CREATE INDEX access_tokens_key_idx ON access_tokens (api_key_id);

-- Console sessions: only a SHA-256 of the cookie value is kept.
CREATE TABLE sessions (
  id            uuid PRIMARY KEY,
  token_hash    bytea NOT NULL UNIQUE,
  user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  expires_at    timestamptz NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE secrets (
  id                uuid PRIMARY KEY,
  workspace_id      uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  name              text NOT NULL,
  description       text NOT NULL DEFAULT '',
  value_encrypted   bytea NOT NULL,
  key_version       integer NOT NULL REFERENCES data_keys (version),
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT secrets_workspace_name_key UNIQUE (workspace_id, name)
);

CREATE TABLE variables (
  id            uuid PRIMARY KEY,
  workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  name          text NOT NULL,
  description   text NOT NULL DEFAULT '',
  value         jsonb NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT variables_workspace_name_key UNIQUE (workspace_id, name)
);

-- The head of each workspace's audit chain. Locking this row serialises appends per workspace,
-- so seq, timestamp and commit order agree and cursors never skip an entry.
CREATE TABLE audit_chain_heads (
  workspace_id    uuid PRIMARY KEY,
  last_seq        bigint NOT NULL DEFAULT 0,
  last_hash       bytea NOT NULL,
  last_ts         timestamptz NOT NULL DEFAULT '-infinity',
  -- After pruning: the hash of the newest pruned entry, which the oldest kept entry chains to.
  pruned_through_seq bigint NOT NULL DEFAULT 0,
  pruned_last_hash   bytea
);

-- No foreign key to workspaces: the audit trail outlives what it describes.
CREATE TABLE audit_logs (
  workspace_id    uuid NOT NULL,
  seq             bigint NOT NULL,
  id              uuid NOT NULL,
  ts              timestamptz NOT NULL,
  email           text NOT NULL,
  actor_name      text NOT NULL,
  actor_type      text NOT NULL,
  action          text NOT NULL,
  resource_id     text NOT NULL,
  resource_name   text NOT NULL,
  ip              text NOT NULL,
  user_agent      text NOT NULL,
  extra_data      jsonb NOT NULL DEFAULT '{}',
  account_name    text NOT NULL,
  prev_hash       bytea NOT NULL,
  hash            bytea NOT NULL,
  PRIMARY KEY (workspace_id, seq),
  CONSTRAINT audit_logs_id_key UNIQUE (id)
);
CREATE INDEX audit_logs_ts_idx ON audit_logs (workspace_id, ts, seq);
