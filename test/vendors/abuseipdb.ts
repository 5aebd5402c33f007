// A stand-in for the AbuseIPDB API v2 (https://docs.abuseipdb.com/), served under /api/v2: the Key
// header, /check and /report as AbuseIPDB answers them, its rate-limit headers and its error bodies
// ({"errors": [{"detail", "status", "source"?}]}).
import { isIP } from 'node:net';
import { standIn, type Answer, type RecordedRequest, type Route, type StandIn } from './stand-in.js';

/** The key the stand-in accepts (AbuseIPDB v2 keys are 80 hex digits). */
export const ABUSEIPDB_API_KEY =
  'c0ffee5a1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0011223344556';

/** AbuseIPDB's error body. */
export function abuseError(
  status: number,
  detail: string,
  parameter?: string,
  headers?: Record<string, string>,
): Answer {
  return {
    status,
    headers,
    json: { errors: [{ detail, status, ...(parameter ? { source: { parameter } } : {}) }] },
  };
}

/** The 429 AbuseIPDB answers when the daily quota is used up (with its rate-limit headers). */
export function abuseRateLimited(retryAfterSeconds: number): Answer {
  return abuseError(
    429,
    'Daily rate limit of 1000 requests exceeded for this endpoint. See headers for additional details.',
    undefined,
    {
      'retry-after': String(retryAfterSeconds),
      'x-ratelimit-limit': '1000',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + retryAfterSeconds),
    },
  );
}

const AUTH_FAILED =
  'Authentication failed. Your API key is either missing, incorrect, or revoked. Note: The APIv2 key differs from the APIv1 key.';

interface Known {
  isWhitelisted: boolean | null;
  abuseConfidenceScore: number;
  countryCode: string | null;
  countryName: string | null;
  usageType: string | null;
  isp: string | null;
  domain: string | null;
  hostnames: string[];
  isTor: boolean;
  reports: {
    reportedAt: string;
    comment: string;
    categories: number[];
    reporterId: number;
    reporterCountryCode: string;
    reporterCountryName: string;
  }[];
}

const KNOWN: Record<string, Known> = {
  '118.25.6.39': {
    isWhitelisted: false,
    abuseConfidenceScore: 100,
    countryCode: 'CN',
    countryName: 'China',
    usageType: 'Data Center/Web Hosting/Transit',
    isp: 'Tencent Cloud Computing (Beijing) Co. Ltd',
    domain: 'tencent.com',
    hostnames: [],
    isTor: false,
    reports: [
      {
        reportedAt: new Date(Date.now() - 2 * 86_400_000).toISOString().replace(/\.\d{3}Z$/, '+00:00'),
        comment:
          'Nov 10 03:12:44 bastion sshd[8812]: Failed password for root from 118.25.6.39 port 52144 ssh2',
        categories: [18, 22],
        reporterId: 1,
        reporterCountryCode: 'US',
        reporterCountryName: 'United States of America',
      },
      {
        reportedAt: new Date(Date.now() - 40 * 86_400_000).toISOString().replace(/\.\d{3}Z$/, '+00:00'),
        comment: 'Port scan',
        categories: [14],
        reporterId: 2,
        reporterCountryCode: 'DE',
        reporterCountryName: 'Germany',
      },
    ],
  },
};

function ipVersion(ip: string): number {
  return isIP(ip);
}

function isPublic(ip: string): boolean {
  return !/^(127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|::1$|fe80:|fc|fd)/i.test(ip);
}

/** /check's data for an address, counting only the reports of the last `maxAge` days. */
function checkData(ip: string, maxAge: number, verbose: boolean): Record<string, unknown> {
  const known = KNOWN[ip];
  const since = Date.now() - maxAge * 86_400_000;
  const reports = (known?.reports ?? []).filter((r) => Date.parse(r.reportedAt) >= since);
  const data: Record<string, unknown> = {
    ipAddress: ip,
    isPublic: isPublic(ip),
    ipVersion: ipVersion(ip),
    isWhitelisted: known?.isWhitelisted ?? null,
    abuseConfidenceScore: reports.length > 0 ? (known?.abuseConfidenceScore ?? 0) : 0,
    countryCode: known?.countryCode ?? null,
    usageType: known?.usageType ?? (isPublic(ip) ? null : 'Reserved'),
    isp: known?.isp ?? null,
    domain: known?.domain ?? null,
    hostnames: known?.hostnames ?? [],
    isTor: known?.isTor ?? false,
    totalReports: reports.length,
    numDistinctUsers: new Set(reports.map((r) => r.reporterId)).size,
    lastReportedAt: reports[0]?.reportedAt ?? null,
  };
  if (verbose) {
    data.countryName = known?.countryName ?? null;
    data.reports = reports;
  }
  return data;
}

const rateHeaders = { 'x-ratelimit-limit': '1000', 'x-ratelimit-remaining': '998' };

/** What the stand-in received on POST /report, parsed. */
export interface ReceivedReport {
  ip: string;
  categories: number[];
  comment: string | undefined;
}

export interface AbuseIpdbStandIn extends StandIn {
  reports: ReceivedReport[];
}

/** Starts an AbuseIPDB stand-in; its `url` + "/api/v2" is the base URL. */
export async function abuseIpdbStandIn(apiKey = ABUSEIPDB_API_KEY): Promise<AbuseIpdbStandIn> {
  const reports: ReceivedReport[] = [];
  const authenticated =
    (route: Route): Route =>
    (req: RecordedRequest) =>
      req.headers.key === apiKey ? route(req) : abuseError(401, AUTH_FAILED);
  const server = (await standIn({
    'GET /api/v2/check': authenticated((req) => {
      const ip = req.query.get('ipAddress');
      if (!ip) return abuseError(422, 'The ip address field is required.', 'ipAddress');
      if (isIP(ip) === 0)
        return abuseError(
          422,
          'The ip address must be a valid IPv4 or IPv6 address (e.g. 8.8.8.8 or 2001:4860:4860::8888).',
          'ipAddress',
        );
      const maxAgeRaw = req.query.get('maxAgeInDays') ?? '30';
      const maxAge = Number(maxAgeRaw);
      if (!Number.isInteger(maxAge) || maxAge < 1 || maxAge > 365)
        return abuseError(422, 'The max age in days must be between 1 and 365.', 'maxAgeInDays');
      return { headers: rateHeaders, json: { data: checkData(ip, maxAge, req.query.has('verbose')) } };
    }),
    'POST /api/v2/report': authenticated((req) => {
      if (!/^application\/x-www-form-urlencoded/.test(req.headers['content-type'] ?? ''))
        return abuseError(422, 'The ip address field is required.', 'ip');
      const form = new URLSearchParams(req.body);
      const ip = form.get('ip');
      if (!ip) return abuseError(422, 'The ip address field is required.', 'ip');
      if (isIP(ip) === 0)
        return abuseError(422, 'The ip address must be a valid IPv4 or IPv6 address.', 'ip');
      const raw = form.get('categories') ?? '';
      const categories = raw.split(',').map((c) => Number(c.trim()));
      if (raw === '' || categories.some((c) => !Number.isInteger(c) || c < 1 || c > 23))
        return abuseError(
          422,
          'The categories field must be a comma separated list of valid category ids.',
          'categories',
        );
      const comment = form.get('comment') ?? undefined;
      if (comment !== undefined && comment.length > 1024)
        return abuseError(422, 'The comment may not be greater than 1024 characters.', 'comment');
      reports.push({ ip, categories, comment });
      const known = KNOWN[ip];
      const score = Math.min(100, (known?.abuseConfidenceScore ?? 0) + 52);
      return { headers: rateHeaders, json: { data: { ipAddress: ip, abuseConfidenceScore: score } } };
    }),
    // Any other path: AbuseIPDB's answer for an endpoint that does not exist.
    'GET /*': () => abuseError(404, 'The requested resource could not be found.'),
    'POST /*': () => abuseError(404, 'The requested resource could not be found.'),
  })) as AbuseIpdbStandIn;
  server.reports = reports;
  return server;
}
