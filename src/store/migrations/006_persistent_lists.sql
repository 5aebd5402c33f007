-- Persistent lists: named key-value collections workflows read and write (Orchestrate's storage
-- manager). One row per key, so concurrent writers of different keys never contend and writers of
-- the same key serialise on its row.
CREATE TABLE persistent_lists (
  id           uuid PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  seq          bigserial NOT NULL,
  title        text NOT NULL,
  slug         text NOT NULL,
  description  text NOT NULL DEFAULT '',
  created_at   timestamptz NOT NULL DEFAULT now(),
  created_by   text NOT NULL DEFAULT '',
  updated_at   timestamptz NOT NULL DEFAULT now(),
  updated_by   text NOT NULL DEFAULT '',
  UNIQUE (workspace_id, slug)
);

CREATE TABLE persistent_list_items (
  list_id    uuid NOT NULL REFERENCES persistent_lists (id) ON DELETE CASCADE,
  key        text NOT NULL,
  value      jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (list_id, key)
);
