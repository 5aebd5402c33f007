// A stand-in for the GitHub REST API (https://docs.github.com/en/rest): bearer tokens (401 "Bad
// credentials" / "Requires authentication"), repositories with branches whose files are kept as git
// blobs (sha = SHA-1 of "blob <size>\0<content>"), the contents API (GET answers base64 wrapped at 60
// characters as GitHub does; PUT creates with 201 or, with the current sha, updates with 200; 422 when an
// existing file's sha is missing, 409 when it is stale), issues and issue comments. Errors are GitHub's
// {"message", "documentation_url", "status"}.
import { createHash, randomBytes } from 'node:crypto';
import { standIn, type Answer, type RecordedRequest, type Route, type StandIn } from './stand-in.js';

export const GITHUB_TOKEN =
  'github_pat_11ABCDEFG0aBcDeFgHiJkL_mNoPqRsTuVwXyZ0123456789abcdefghijklmnopqrstuvwxyzABCD';
export const GITHUB_OWNER = 'acme-secops';
export const GITHUB_REPO = 'osprey-workflows';

export function githubError(
  status: number,
  message: string,
  doc = 'https://docs.github.com/rest',
  headers?: Record<string, string>,
): Answer {
  return {
    status,
    json: { message, documentation_url: doc, status: String(status) },
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  };
}

/** GitHub's 422 for a required field left out of the body. */
function missingField(resource: string, field: string, doc: string): Answer {
  return {
    status: 422,
    json: {
      message: 'Validation Failed',
      errors: [{ resource, code: 'missing_field', field }],
      documentation_url: doc,
      status: '422',
    },
  };
}

function gitBlobSha(content: Buffer): string {
  return createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
}

export interface Commit {
  sha: string;
  message: string;
  branch: string;
  path: string;
  committer?: { name: string; email: string };
}

export interface GitHubStandIn extends StandIn {
  /** Files by branch, then path. */
  branches: Map<string, Map<string, Buffer>>;
  commits: Commit[];
  issues: {
    number: number;
    title: string;
    body: string | null;
    labels: string[];
    assignees: string[];
    comments: string[];
  }[];
  /** Puts a file on a branch directly (as if pushed). */
  seed(path: string, content: string | Buffer, branch?: string): string;
}

const CONTENTS_DOC = 'https://docs.github.com/rest/repos/contents#get-repository-content';
const LOGIN = 'osprey-bot';
const USER = { login: LOGIN, id: 1_234_567, node_id: 'U_kgDOABLaBw', type: 'User', site_admin: false };

/** Starts a GitHub stand-in; its `url` is the API base URL. */
export async function gitHubStandIn(token = GITHUB_TOKEN): Promise<GitHubStandIn> {
  const branches = new Map<string, Map<string, Buffer>>([
    ['main', new Map()],
    ['staging', new Map()],
  ]);
  const commits: Commit[] = [];
  const issues: GitHubStandIn['issues'] = [];
  const web = 'https://github.com';
  const repoPath = `/repos/${GITHUB_OWNER}/${GITHUB_REPO}`;
  let base = '';

  const authenticated =
    (route: Route): Route =>
    (req: RecordedRequest) => {
      const auth = req.headers.authorization;
      if (auth === undefined) return githubError(401, 'Requires authentication');
      const m = /^(?:Bearer|token) (.+)$/.exec(auth);
      if (!m || m[1] !== token) return githubError(401, 'Bad credentials');
      const version = req.headers['x-github-api-version'];
      if (version !== undefined && version !== '2022-11-28')
        return githubError(400, `API version ${String(version)} is not supported.`);
      return route(req);
    };

  /** The repository of the request, or GitHub's 404 (also for a repository the token cannot see). */
  const inRepo =
    (route: Route): Route =>
    (req: RecordedRequest) => {
      if (!req.path.startsWith(`${repoPath}/`)) return githubError(404, 'Not Found', CONTENTS_DOC);
      return route(req);
    };

  const filePath = (req: RecordedRequest): string =>
    req.path
      .slice(`${repoPath}/contents/`.length)
      .split('/')
      .map((s) => decodeURIComponent(s))
      .join('/');

  function contentView(branch: string, path: string, content: Buffer): Record<string, unknown> {
    const sha = gitBlobSha(content);
    const encodedPath = path.split('/').map(encodeURIComponent).join('/');
    return {
      name: path.split('/').at(-1),
      path,
      sha,
      size: content.length,
      url: `${base}${repoPath}/contents/${encodedPath}?ref=${branch}`,
      html_url: `${web}/${GITHUB_OWNER}/${GITHUB_REPO}/blob/${branch}/${encodedPath}`,
      git_url: `${base}${repoPath}/git/blobs/${sha}`,
      download_url: `https://raw.githubusercontent.com/${GITHUB_OWNER}/${GITHUB_REPO}/${branch}/${encodedPath}`,
      type: 'file',
    };
  }

  function dirEntries(
    files: Map<string, Buffer>,
    dir: string,
    branch: string,
  ): Record<string, unknown>[] | undefined {
    const prefix = `${dir}/`;
    const names = new Set<string>();
    const out: Record<string, unknown>[] = [];
    for (const [p, c] of files) {
      if (!p.startsWith(prefix)) continue;
      const rest = p.slice(prefix.length);
      const name = rest.split('/')[0]!;
      if (names.has(name)) continue;
      names.add(name);
      out.push(
        rest.includes('/') ? { name, path: `${dir}/${name}`, type: 'dir' } : contentView(branch, p, c),
      );
    }
    return out.length ? out : undefined;
  }

  const server = (await standIn({
    'GET /rate_limit': authenticated(() => ({
      json: {
        resources: { core: { limit: 5000, used: 12, remaining: 4988, reset: 1_731_459_600 } },
        rate: { limit: 5000, used: 12, remaining: 4988, reset: 1_731_459_600 },
      },
      headers: { 'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': '4988' },
    })),
    'GET /user': authenticated(() => ({ json: USER })),
    'GET /repos/*': authenticated(
      inRepo((req) => {
        if (!req.path.startsWith(`${repoPath}/contents/`)) return githubError(404, 'Not Found', CONTENTS_DOC);
        const ref = req.query.get('ref') ?? 'main';
        const files = branches.get(ref);
        if (!files) return githubError(404, `No commit found for the ref ${ref}`, CONTENTS_DOC);
        const path = filePath(req);
        const content = files.get(path);
        if (!content) {
          const dir = dirEntries(files, path, ref);
          return dir ? { json: dir } : githubError(404, 'Not Found', CONTENTS_DOC);
        }
        if (content.length > 1_000_000)
          return { json: { ...contentView(ref, path, content), content: '', encoding: 'none' } };
        const b64 = content.toString('base64').replace(/(.{60})/g, '$1\n');
        return {
          json: {
            ...contentView(ref, path, content),
            content: b64.endsWith('\n') ? b64 : `${b64}\n`,
            encoding: 'base64',
            _links: { self: `${base}${repoPath}/contents/${path}` },
          },
        };
      }),
    ),
    'PUT /repos/*': authenticated(
      inRepo((req) => {
        if (!req.path.startsWith(`${repoPath}/contents/`)) return githubError(404, 'Not Found');
        const body = req.json as
          | {
              message?: unknown;
              content?: unknown;
              sha?: unknown;
              branch?: unknown;
              committer?: { name: string; email: string };
            }
          | undefined;
        const doc = 'https://docs.github.com/rest/repos/contents#create-or-update-file-contents';
        if (!body || typeof body !== 'object') return githubError(400, 'Problems parsing JSON', doc);
        if (typeof body.message !== 'string')
          return githubError(422, 'Invalid request.\n\n"message" wasn\'t supplied.', doc);
        if (typeof body.content !== 'string')
          return githubError(422, 'Invalid request.\n\n"content" wasn\'t supplied.', doc);
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body.content) || body.content.length % 4 !== 0)
          return githubError(422, 'content is not valid Base64', doc);
        const branch = typeof body.branch === 'string' ? body.branch : 'main';
        const files = branches.get(branch);
        if (!files) return githubError(404, `Branch ${branch} not found`, doc);
        const path = filePath(req);
        const existing = files.get(path);
        if (existing) {
          if (body.sha === undefined)
            return githubError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.', doc);
          if (body.sha !== gitBlobSha(existing))
            return githubError(
              409,
              `${path} does not match ${typeof body.sha === 'string' ? body.sha : JSON.stringify(body.sha)}`,
              doc,
            );
        }
        const content = Buffer.from(body.content, 'base64');
        files.set(path, content);
        const sha = randomBytes(20).toString('hex');
        commits.push({
          sha,
          message: body.message,
          branch,
          path,
          ...(body.committer && { committer: body.committer }),
        });
        const person = {
          name: body.committer?.name ?? 'osprey-bot',
          email: body.committer?.email ?? 'osprey-bot@users.noreply.github.com',
          date: '2024-11-12T10:00:00Z',
        };
        return {
          status: existing ? 200 : 201,
          json: {
            content: { ...contentView(branch, path, content), _links: {} },
            commit: {
              sha,
              node_id: 'C_kwDOKx',
              url: `${base}${repoPath}/git/commits/${sha}`,
              html_url: `${web}/${GITHUB_OWNER}/${GITHUB_REPO}/commit/${sha}`,
              author: person,
              committer: person,
              message: body.message,
              tree: { sha: randomBytes(20).toString('hex') },
              parents: [],
              verification: { verified: false, reason: 'unsigned', signature: null, payload: null },
            },
          },
        };
      }),
    ),
    'POST /repos/*': authenticated(
      inRepo((req) => {
        const doc = 'https://docs.github.com/rest/issues/issues#create-an-issue';
        const body = req.json as Record<string, unknown> | undefined;
        if (!body || typeof body !== 'object') return githubError(400, 'Problems parsing JSON', doc);
        if (req.path === `${repoPath}/issues`) {
          if (typeof body.title !== 'string' || body.title === '') return missingField('Issue', 'title', doc);
          const number = issues.length + 1;
          const labels = (body.labels as string[] | undefined) ?? [];
          const assignees = (body.assignees as string[] | undefined) ?? [];
          issues.push({
            number,
            title: body.title,
            body: (body.body as string | undefined) ?? null,
            labels,
            assignees,
            comments: [],
          });
          return {
            status: 201,
            json: {
              id: 2_000_000 + number,
              node_id: 'I_kwDOKx',
              url: `${base}${repoPath}/issues/${number}`,
              html_url: `${web}/${GITHUB_OWNER}/${GITHUB_REPO}/issues/${number}`,
              number,
              state: 'open',
              title: body.title,
              body: body.body ?? null,
              user: USER,
              labels: labels.map((name, i) => ({ id: 100 + i, name, color: 'd73a4a', default: false })),
              assignee: assignees[0] ? { ...USER, login: assignees[0] } : null,
              assignees: assignees.map((login) => ({ ...USER, login })),
              comments: 0,
              created_at: '2024-11-12T10:00:00Z',
              updated_at: '2024-11-12T10:00:00Z',
              closed_at: null,
              author_association: 'MEMBER',
            },
          };
        }
        const m = new RegExp(`^${repoPath}/issues/(\\d+)/comments$`).exec(req.path);
        if (m) {
          const issue = issues.find((i) => i.number === Number(m[1]));
          if (!issue)
            return githubError(
              404,
              'Not Found',
              'https://docs.github.com/rest/issues/comments#create-an-issue-comment',
            );
          if (typeof body.body !== 'string' || body.body === '')
            return missingField('IssueComment', 'body', doc);
          issue.comments.push(body.body);
          const id = 3_000_000 + issue.comments.length;
          return {
            status: 201,
            json: {
              id,
              node_id: 'IC_kwDOKx',
              url: `${base}${repoPath}/issues/comments/${id}`,
              html_url: `${web}/${GITHUB_OWNER}/${GITHUB_REPO}/issues/${issue.number}#issuecomment-${id}`,
              body: body.body,
              user: USER,
              created_at: '2024-11-12T10:01:00Z',
              updated_at: '2024-11-12T10:01:00Z',
              author_association: 'MEMBER',
            },
          };
        }
        return githubError(404, 'Not Found');
      }),
    ),
    'GET /*': () => githubError(404, 'Not Found'),
  })) as GitHubStandIn;
  base = server.url;
  server.branches = branches;
  server.commits = commits;
  server.issues = issues;
  server.seed = (path, content, branch = 'main') => {
    const buf = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    branches.get(branch)!.set(path, buf);
    return gitBlobSha(buf);
  };
  return server;
}
