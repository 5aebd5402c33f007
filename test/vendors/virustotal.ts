// A stand-in for the VirusTotal API v3 (https://docs.virustotal.com/reference/overview), served
// under /api/v3 like the real one: x-apikey authentication, file/URL/IP/domain objects shaped as
// VirusTotal returns them, and its error bodies ({"error": {"code", "message"}}).
import { isIP } from 'node:net';
import { standIn, type Answer, type RecordedRequest, type Route, type StandIn } from './stand-in.js';

/** The key the stand-in accepts (VirusTotal keys are 64 hex digits). */
export const VT_API_KEY = '9f1c0d6e5b2a4f3c8e7d1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d';

/** The EICAR test file's hashes: the stand-in knows this file. */
export const EICAR = {
  md5: '44d88612fea8a8f36de82e1278abb02f',
  sha1: '3395856ce81f2b7382dee72602f798b642f14140',
  sha256: '275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f',
};

/** A URL the stand-in has a report for; its base64 has "+", "/" and padding, which base64url replaces. */
export const KNOWN_URL = 'http://malware.wicar.org/data/eicar.com?dl=1&n=~~~?~';

/** VirusTotal's error body. */
export function vtError(status: number, code: string, message: string): Answer {
  return { status, json: { error: { code, message } } };
}

/** The 429 VirusTotal answers when the quota is used up. */
export const VT_QUOTA_EXCEEDED = vtError(429, 'QuotaExceededError', 'Quota exceeded');

const LINK = 'https://www.virustotal.com/api/v3';

function engines(verdicts: Record<string, string | null>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [engine, result] of Object.entries(verdicts))
    out[engine] = {
      method: 'blacklist',
      engine_name: engine,
      category: result === null ? 'harmless' : 'malicious',
      result: result ?? 'clean',
    };
  return out;
}

const FILE = {
  id: EICAR.sha256,
  type: 'file',
  links: { self: `${LINK}/files/${EICAR.sha256}` },
  attributes: {
    md5: EICAR.md5,
    sha1: EICAR.sha1,
    sha256: EICAR.sha256,
    size: 68,
    type_description: 'Text',
    type_tag: 'text',
    meaningful_name: 'eicar.com',
    names: ['eicar.com', 'eicar.txt', 'eicar_com.zip'],
    tags: ['text', 'attachment'],
    reputation: -1240,
    times_submitted: 812345,
    first_submission_date: 1148301722,
    last_analysis_date: 1731456000,
    last_analysis_stats: {
      harmless: 0,
      'type-unsupported': 8,
      suspicious: 0,
      'confirmed-timeout': 0,
      timeout: 0,
      failure: 0,
      malicious: 63,
      undetected: 4,
    },
    last_analysis_results: {
      Kaspersky: {
        method: 'blacklist',
        engine_name: 'Kaspersky',
        engine_version: '22.0.1.28',
        engine_update: '20241112',
        category: 'malicious',
        result: 'EICAR-Test-File',
      },
      Microsoft: {
        method: 'blacklist',
        engine_name: 'Microsoft',
        engine_version: '1.1.24090.11',
        engine_update: '20241112',
        category: 'malicious',
        result: 'Virus:DOS/EICAR_Test_File',
      },
    },
    total_votes: { harmless: 12, malicious: 301 },
  },
};

function urlObject(url: string, id: string): unknown {
  return {
    id: '5b9f8a1a2b6e0a79d3f5b47d1f0c1d0a9c2c5f4e8b0c6a7d2e1f3a4b5c6d7e8f',
    type: 'url',
    links: { self: `${LINK}/urls/${id}` },
    attributes: {
      url,
      last_final_url: url,
      title: 'EICAR test file',
      categories: { 'Forcepoint ThreatSeeker': 'malicious web sites', Sophos: 'malware repository' },
      reputation: -52,
      times_submitted: 3120,
      first_submission_date: 1325376000,
      last_analysis_date: 1731400000,
      last_http_response_code: 200,
      tags: [],
      last_analysis_stats: { harmless: 58, malicious: 9, suspicious: 1, undetected: 24, timeout: 0 },
      last_analysis_results: engines({ Fortinet: 'malware', 'Google Safebrowsing': null }),
      total_votes: { harmless: 0, malicious: 14 },
    },
  };
}

const IPS: Record<string, Record<string, unknown>> = {
  '8.8.8.8': {
    asn: 15169,
    as_owner: 'GOOGLE',
    country: 'US',
    continent: 'NA',
    network: '8.8.8.0/24',
    regional_internet_registry: 'ARIN',
    reputation: 530,
    tags: [],
    whois:
      'NetRange: 8.8.8.0 - 8.8.8.255\nCIDR: 8.8.8.0/24\nNetName: GOGL\nOrganization: Google LLC (GOGL)\n',
    last_analysis_date: 1731450000,
    last_analysis_stats: { harmless: 62, malicious: 0, suspicious: 0, undetected: 29, timeout: 0 },
    last_analysis_results: engines({ Fortinet: null, Kaspersky: null }),
    total_votes: { harmless: 211, malicious: 39 },
  },
  '203.0.113.7': {
    asn: 64500,
    as_owner: 'EXAMPLE-HOSTING',
    country: 'NL',
    continent: 'EU',
    network: '203.0.113.0/24',
    regional_internet_registry: 'RIPE NCC',
    reputation: -37,
    tags: ['scanner'],
    whois: 'inetnum: 203.0.113.0 - 203.0.113.255\n',
    last_analysis_date: 1731440000,
    last_analysis_stats: { harmless: 51, malicious: 11, suspicious: 2, undetected: 27, timeout: 0 },
    last_analysis_results: engines({ Fortinet: 'malware', Kaspersky: 'malicious' }),
    total_votes: { harmless: 0, malicious: 8 },
  },
  '2001:4860:4860::8888': {
    asn: 15169,
    as_owner: 'GOOGLE',
    country: 'US',
    continent: 'NA',
    network: '2001:4860::/32',
    regional_internet_registry: 'ARIN',
    reputation: 12,
    tags: [],
    whois: 'NetRange: 2001:4860:: - 2001:4860:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF\n',
    last_analysis_date: 1731450000,
    last_analysis_stats: { harmless: 60, malicious: 0, suspicious: 0, undetected: 31, timeout: 0 },
    last_analysis_results: engines({ Fortinet: null }),
    total_votes: { harmless: 3, malicious: 0 },
  },
};

const DOMAINS: Record<string, Record<string, unknown>> = {
  'example.com': {
    categories: { 'Forcepoint ThreatSeeker': 'information technology', BitDefender: 'computersandsoftware' },
    creation_date: 808372800,
    registrar: 'RESERVED-Internet Assigned Numbers Authority',
    reputation: 3,
    tld: 'com',
    tags: [],
    whois: 'Domain Name: EXAMPLE.COM\nRegistry Domain ID: 2336799_DOMAIN_COM-VRSN\n',
    last_dns_records: [
      { type: 'A', value: '93.184.215.14', ttl: 3600 },
      { type: 'NS', value: 'a.iana-servers.net', ttl: 86400 },
    ],
    last_analysis_date: 1731420000,
    last_analysis_stats: { harmless: 66, malicious: 0, suspicious: 0, undetected: 26, timeout: 0 },
    last_analysis_results: engines({ Fortinet: null, Sophos: null }),
    total_votes: { harmless: 5, malicious: 1 },
  },
};

/** VirusTotal checks the key before anything else. */
function authenticated(apiKey: string, route: Route): Route {
  return (req: RecordedRequest) => {
    const key = req.headers['x-apikey'];
    if (key === undefined) return vtError(401, 'AuthenticationRequiredError', 'X-Apikey header is missing');
    if (key !== apiKey) return vtError(401, 'WrongCredentialsError', 'Wrong API key');
    return route(req);
  };
}

function lastSegment(req: RecordedRequest): string {
  return decodeURIComponent(req.path.slice(req.path.lastIndexOf('/') + 1));
}

/** Decodes a URL identifier (unpadded base64url); undefined when it is not one. */
function urlFromId(id: string): string | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(id)) return undefined;
  return Buffer.from(id, 'base64url').toString('utf8');
}

/** Starts a VirusTotal stand-in; its `url` + "/api/v3" is the base URL. */
export function virusTotalStandIn(apiKey = VT_API_KEY): Promise<StandIn> {
  const routes: Record<string, Route> = {
    'GET /api/v3/files/:id': (req) => {
      const id = lastSegment(req);
      if (!/^([0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$/.test(id))
        return vtError(400, 'InvalidArgumentError', `Invalid resource id: ${id}`);
      const lower = id.toLowerCase();
      if (lower === EICAR.md5 || lower === EICAR.sha1 || lower === EICAR.sha256)
        return { json: { data: FILE } };
      return vtError(404, 'NotFoundError', `File "${id}" not found`);
    },
    'GET /api/v3/urls/:id': (req) => {
      const id = lastSegment(req);
      const url = urlFromId(id);
      // The identifier is unpadded, and VirusTotal matches the URL exactly.
      if (url !== undefined && !id.includes('=') && url === KNOWN_URL)
        return { json: { data: urlObject(url, id) } };
      return vtError(404, 'NotFoundError', `URL "${id}" not found`);
    },
    'GET /api/v3/ip_addresses/:ip': (req) => {
      const ip = lastSegment(req);
      if (isIP(ip) === 0) return vtError(400, 'InvalidArgumentError', `"${ip}" is not a valid IP address`);
      const attributes = IPS[ip] ?? {
        reputation: 0,
        tags: [],
        last_analysis_stats: { harmless: 0, malicious: 0, suspicious: 0, undetected: 91, timeout: 0 },
        last_analysis_results: {},
      };
      return {
        json: {
          data: { id: ip, type: 'ip_address', links: { self: `${LINK}/ip_addresses/${ip}` }, attributes },
        },
      };
    },
    'GET /api/v3/domains/:domain': (req) => {
      const domain = lastSegment(req);
      const attributes = DOMAINS[domain];
      if (!attributes) return vtError(404, 'NotFoundError', `Domain "${domain}" not found`);
      return {
        json: {
          data: { id: domain, type: 'domain', links: { self: `${LINK}/domains/${domain}` }, attributes },
        },
      };
    },
  };
  const authed: Record<string, Route> = {};
  for (const [key, route] of Object.entries(routes)) authed[key] = authenticated(apiKey, route);
  // Anything else: VirusTotal's answer for an unknown endpoint.
  authed['GET /*'] = (req) => vtError(404, 'NotFoundError', `Resource not found: ${req.path}`);
  return standIn(authed);
}
