-- Workflows as code: a workflow and its immutable revisions (the YAML as saved, plus the parsed
-- definition). Names need not be unique: the seed's copy flow fails clearly on several matches.

CREATE TABLE workflows (
  id                    uuid PRIMARY KEY,
  workspace_id          uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  name                  text NOT NULL,
  description           text NOT NULL DEFAULT '',
  tags                  text[] NOT NULL DEFAULT '{}',
  trigger_type          text NOT NULL,
  current_revision_id   uuid,
  published_revision_id uuid,
  enabled               boolean NOT NULL DEFAULT true,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workflows_workspace_name_idx ON workflows (workspace_id, name, id);
CREATE INDEX workflows_tags_idx ON workflows USING gin (tags);

CREATE TABLE workflow_revisions (
  id                  uuid PRIMARY KEY,
  workflow_id         uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
  workspace_id        uuid NOT NULL,
  number              integer NOT NULL,
  source              text NOT NULL,
  definition          jsonb NOT NULL,
  warnings            jsonb NOT NULL DEFAULT '[]',
  created_at          timestamptz NOT NULL DEFAULT now(),
  created_by          text NOT NULL DEFAULT '',
  publish_description text,
  published_at        timestamptz,
  CONSTRAINT workflow_revisions_number_key UNIQUE (workflow_id, number)
);

ALTER TABLE workflows
  ADD CONSTRAINT workflows_current_revision_fkey FOREIGN KEY (current_revision_id)
    REFERENCES workflow_revisions (id) DEFERRABLE INITIALLY DEFERRED,
  ADD CONSTRAINT workflows_published_revision_fkey FOREIGN KEY (published_revision_id)
    REFERENCES workflow_revisions (id) DEFERRABLE INITIALLY DEFERRED;
