// A stand-in for the Jira Cloud REST API v2 (https://developer.atlassian.com/cloud/jira/platform/rest/v2/):
// basic authentication with an email and an API token (401 with Jira Cloud's plain-text answer for a
// wrong token, its JSON one without credentials), projects with issue types and priorities, issues
// with comments, and a small workflow (To Do → In Progress → Done) whose transitions depend on the
// issue's status. Errors are Jira's {"errorMessages": [...], "errors": {field: message}}.
import { standIn, type Answer, type RecordedRequest, type Route, type StandIn } from './stand-in.js';

export const JIRA_EMAIL = 'soc-automation@acme.example';
export const JIRA_API_TOKEN = 'ATATT3xFfGF0c9Vb2LkQm7RzP4wN8sYd1HjE6tUa5KoXnC3gW0iB';

export function jiraError(
  status: number,
  errorMessages: string[],
  errors: Record<string, string> = {},
): Answer {
  return { status, json: { errorMessages, errors } };
}

const PROJECTS: Record<string, { id: string; name: string; issueTypes: string[] }> = {
  SEC: { id: '10001', name: 'Security Operations', issueTypes: ['Task', 'Bug', 'Incident'] },
  IT: { id: '10002', name: 'IT Service Desk', issueTypes: ['Task', 'Service Request'] },
};
const PRIORITIES = ['Highest', 'High', 'Medium', 'Low', 'Lowest'];

interface Status {
  id: string;
  name: string;
  category: { id: number; key: string; colorName: string; name: string };
}
const STATUSES: Record<string, Status> = {
  todo: {
    id: '10000',
    name: 'To Do',
    category: { id: 2, key: 'new', colorName: 'blue-gray', name: 'To Do' },
  },
  progress: {
    id: '3',
    name: 'In Progress',
    category: { id: 4, key: 'indeterminate', colorName: 'yellow', name: 'In Progress' },
  },
  done: { id: '10001', name: 'Done', category: { id: 3, key: 'done', colorName: 'green', name: 'Done' } },
};
/** The workflow: the transitions available from each status. */
const WORKFLOW: Record<string, { id: string; name: string; to: string }[]> = {
  todo: [
    { id: '11', name: 'Start Progress', to: 'progress' },
    { id: '31', name: 'Done', to: 'done' },
  ],
  progress: [
    { id: '21', name: 'Stop Progress', to: 'todo' },
    { id: '31', name: 'Done', to: 'done' },
  ],
  done: [{ id: '41', name: 'Reopen', to: 'todo' }],
};

export interface JiraIssue {
  id: string;
  key: string;
  project: string;
  status: string;
  fields: Record<string, unknown>;
  comments: { id: string; body: string; created: string }[];
}

export interface JiraStandIn extends StandIn {
  issues: Map<string, JiraIssue>;
  /** Adds an issue directly (as if someone had created it in Jira). */
  seed(project: string, summary: string, status?: keyof typeof STATUSES): JiraIssue;
}

const USER = {
  accountId: '5b10ac8d82e05b22cc7d4ef5',
  accountType: 'atlassian',
  emailAddress: JIRA_EMAIL,
  displayName: 'SOC Automation',
  active: true,
  timeZone: 'Europe/Berlin',
  locale: 'en_US',
};

function statusView(s: Status, base: string): Record<string, unknown> {
  return {
    self: `${base}/rest/api/2/status/${s.id}`,
    id: s.id,
    name: s.name,
    statusCategory: { self: `${base}/rest/api/2/statuscategory/${s.category.id}`, ...s.category },
  };
}

/** Starts a Jira stand-in; its `url` is the site URL (base_url). */
export async function jiraStandIn(email = JIRA_EMAIL, token = JIRA_API_TOKEN): Promise<JiraStandIn> {
  const issues = new Map<string, JiraIssue>();
  const counters: Record<string, number> = {};
  let nextId = 10_000;
  let nextComment = 10_100;
  let base = '';

  const authenticated =
    (route: Route): Route =>
    (req: RecordedRequest) => {
      const auth = req.headers.authorization;
      if (!auth)
        return {
          status: 401,
          json: { message: 'Client must be authenticated to access this resource.', 'status-code': 401 },
        };
      const m = /^Basic (.+)$/.exec(auth);
      const decoded = m ? Buffer.from(m[1]!, 'base64').toString('utf8') : '';
      if (decoded !== `${email}:${token}`)
        return {
          status: 401,
          text: 'Basic authentication with passwords is deprecated.  For more information, see: https://developer.atlassian.com/cloud/confluence/deprecation-notice-basic-auth/\n',
          headers: {
            'content-type': 'text/plain;charset=UTF-8',
            'www-authenticate': 'Basic realm="protected-area"',
            'x-seraph-loginreason': 'AUTHENTICATED_FAILED',
          },
        };
      return route(req);
    };

  const find = (ref: string): JiraIssue | undefined =>
    issues.get(ref.toUpperCase()) ?? [...issues.values()].find((i) => i.id === ref);
  const noIssue = (): Answer =>
    jiraError(404, ['Issue does not exist or you do not have permission to see it.']);
  const issueKey = (req: RecordedRequest): string => decodeURIComponent(req.path.split('/')[5] ?? '');

  function create(project: string, fields: Record<string, unknown>, status = 'todo'): JiraIssue {
    counters[project] = (counters[project] ?? 0) + 1;
    const id = String(++nextId);
    const issue: JiraIssue = {
      id,
      key: `${project}-${counters[project]}`,
      project,
      status,
      fields,
      comments: [],
    };
    issues.set(issue.key, issue);
    return issue;
  }

  function transitionsOf(issue: JiraIssue): Record<string, unknown>[] {
    return WORKFLOW[issue.status]!.map((t) => ({
      id: t.id,
      name: t.name,
      to: statusView(STATUSES[t.to]!, base),
      hasScreen: false,
      isGlobal: false,
      isInitial: false,
      isAvailable: true,
      isConditional: false,
      isLooped: false,
    }));
  }

  function issueView(issue: JiraIssue, only: string[] | undefined): Record<string, unknown> {
    const all: Record<string, unknown> = {
      ...issue.fields,
      project: { id: PROJECTS[issue.project]!.id, key: issue.project, name: PROJECTS[issue.project]!.name },
      status: statusView(STATUSES[issue.status]!, base),
      comment: {
        comments: issue.comments.map((c) => ({ ...c, author: USER })),
        maxResults: issue.comments.length,
        total: issue.comments.length,
        startAt: 0,
      },
      created: '2024-11-12T10:00:00.000+0000',
      updated: '2024-11-12T10:05:00.000+0000',
      reporter: USER,
    };
    const fields =
      only && !only.includes('*all')
        ? Object.fromEntries(Object.entries(all).filter(([k]) => only.includes(k)))
        : all;
    return {
      expand: 'renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations',
      id: issue.id,
      self: `${base}/rest/api/2/issue/${issue.id}`,
      key: issue.key,
      fields,
    };
  }

  const server = (await standIn({
    'GET /rest/api/2/myself': authenticated(() => ({
      json: { self: `${base}/rest/api/2/user?accountId=${USER.accountId}`, ...USER },
    })),
    'POST /rest/api/2/issue': authenticated((req) => {
      const body = req.json as { fields?: Record<string, unknown> } | undefined;
      if (!body || typeof body !== 'object')
        return jiraError(400, ["Unexpected character ('x' (code 120)): expected a valid value"]);
      const fields = { ...(body.fields ?? {}) };
      const errors: Record<string, string> = {};
      const projectKey = (fields.project as { key?: string } | undefined)?.key;
      const project = projectKey ? PROJECTS[projectKey] : undefined;
      if (!project) errors.project = 'valid project is required';
      if (typeof fields.summary !== 'string' || fields.summary.trim() === '')
        errors.summary = 'You must specify a summary of the issue.';
      const typeName = (fields.issuetype as { name?: string } | undefined)?.name;
      if (project && (!typeName || !project.issueTypes.includes(typeName)))
        errors.issuetype = 'Specify a valid issue type';
      const priority = (fields.priority as { name?: string } | undefined)?.name;
      if (fields.priority !== undefined && (!priority || !PRIORITIES.includes(priority)))
        errors.priority = `The priority selected is invalid.`;
      if (
        fields.labels !== undefined &&
        (!Array.isArray(fields.labels) || fields.labels.some((l) => /\s/.test(String(l))))
      )
        errors.labels = 'The label must not contain spaces.';
      for (const k of Object.keys(fields))
        if (k.startsWith('customfield_') && k !== 'customfield_10010')
          errors[k] = `Field '${k}' cannot be set. It is not on the appropriate screen, or unknown.`;
      if (Object.keys(errors).length) return jiraError(400, [], errors);
      const issue = create(projectKey!, {
        ...fields,
        issuetype: { id: '10002', name: typeName, subtask: false },
        ...(priority && { priority: { id: String(PRIORITIES.indexOf(priority) + 1), name: priority } }),
      });
      return {
        status: 201,
        json: { id: issue.id, key: issue.key, self: `${base}/rest/api/2/issue/${issue.id}` },
      };
    }),
    'GET /rest/api/2/issue/:key/transitions': authenticated((req) => {
      const issue = find(issueKey(req));
      if (!issue) return noIssue();
      return { json: { expand: 'transitions', transitions: transitionsOf(issue) } };
    }),
    'POST /rest/api/2/issue/:key/transitions': authenticated((req) => {
      const issue = find(issueKey(req));
      if (!issue) return noIssue();
      const body = req.json as
        | {
            transition?: { id?: string };
            fields?: Record<string, unknown>;
            update?: { comment?: { add: { body: string } }[] };
          }
        | undefined;
      const id = body?.transition?.id;
      if (!id) return jiraError(400, ["Missing 'transition' identifier"]);
      const t = WORKFLOW[issue.status]!.find((x) => x.id === id);
      if (!t) return jiraError(400, [`Transition id '${id}' is not valid for this issue.`]);
      if (body.fields) {
        for (const k of Object.keys(body.fields))
          if (k !== 'resolution')
            return jiraError(400, [], {
              [k]: `Field '${k}' cannot be set. It is not on the appropriate screen, or unknown.`,
            });
        Object.assign(issue.fields, body.fields);
      }
      for (const c of body.update?.comment ?? [])
        issue.comments.push({
          id: String(++nextComment),
          body: c.add.body,
          created: '2024-11-12T10:06:00.000+0000',
        });
      issue.status = t.to;
      return { status: 204, text: '' };
    }),
    'POST /rest/api/2/issue/:key/comment': authenticated((req) => {
      const issue = find(issueKey(req));
      if (!issue) return noIssue();
      const body = req.json as { body?: unknown } | undefined;
      if (typeof body?.body !== 'string' || body.body.trim() === '')
        return jiraError(400, [], { comment: 'Comment body can not be empty!' });
      const comment = { id: String(++nextComment), body: body.body, created: '2024-11-12T10:07:00.000+0000' };
      issue.comments.push(comment);
      return {
        status: 201,
        json: {
          self: `${base}/rest/api/2/issue/${issue.id}/comment/${comment.id}`,
          id: comment.id,
          author: USER,
          body: comment.body,
          updateAuthor: USER,
          created: comment.created,
          updated: comment.created,
          jsdPublic: true,
        },
      };
    }),
    'GET /rest/api/2/issue/:key': authenticated((req) => {
      const issue = find(issueKey(req));
      if (!issue) return noIssue();
      const only = req.query.get('fields')?.split(',');
      return { json: issueView(issue, only) };
    }),
    'GET /*': () => ({
      status: 404,
      text: '<html><head><title>Oops, you&#39;ve found a dead link. - JIRA</title></head></html>',
      headers: { 'content-type': 'text/html;charset=UTF-8' },
    }),
    'POST /*': () => ({
      status: 404,
      text: '<html><head><title>Oops, you&#39;ve found a dead link. - JIRA</title></head></html>',
      headers: { 'content-type': 'text/html;charset=UTF-8' },
    }),
  })) as JiraStandIn;
  base = server.url;
  server.issues = issues;
  server.seed = (project, summary, status = 'todo') =>
    create(project, { summary, issuetype: { id: '10002', name: 'Task', subtask: false } }, status);
  return server;
}
