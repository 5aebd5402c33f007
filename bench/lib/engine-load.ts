// The engine benchmark's load process (forked by bench/engine.ts): the echo server the workflows'
// HTTP step calls, and the HTTP clients. It runs apart from the Osprey process so the clients' work
// does not share Osprey's event loop. Requests go over real TCP on 127.0.0.1 with undici pools.
import { createServer, type Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import type {
  ChildMessage,
  ClosedLoopRequest,
  FireRequest,
  FireResult,
  LoadResult,
  ParentMessage,
} from './engine-protocol.js';

const send = (message: ChildMessage): void => {
  process.send!(message);
};

/** Answers every request with JSON: a fixed verdict and the request body it got. */
function startEcho(): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let request: unknown = null;
      try {
        request = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown) : null;
      } catch {
        request = null;
      }
      const body = JSON.stringify({ verdict: 'known', request });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, port: typeof address === 'object' && address ? address.port : 0 });
    });
  });
}

let sequence = 0;
const nextIp = (): string => {
  const n = sequence++;
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
};

/**
 * One request; returns undefined when the answer is right, else what was wrong. A `/sync` answer must
 * be the workflow's exit output for this request (the IP it sent, echoed back through the HTTP step).
 */
async function post(
  pool: Pool,
  path: string,
  kind: ClosedLoopRequest['kind'] | 'fire',
): Promise<string | undefined> {
  const ip = nextIp();
  const res = await pool.request({
    path,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ip, score: 90 }),
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) return `HTTP ${res.statusCode}: ${text.slice(0, 300)}`;
  const body = JSON.parse(text) as Record<string, unknown>;
  if (kind === 'sync') {
    if (body.ip !== ip || body.verdict !== 'known' || body.echoed !== ip)
      return `unexpected /sync output ${text.slice(0, 300)}`;
  } else if (kind === 'fire') {
    if (typeof body.execution_id !== 'string') return `no execution_id: ${text.slice(0, 300)}`;
  } else if ((body.request as { ip?: unknown } | null)?.ip !== ip) {
    return `unexpected echo ${text.slice(0, 300)}`;
  }
  return undefined;
}

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function closedLoop(r: ClosedLoopRequest): Promise<LoadResult> {
  const url = new URL(r.url);
  const pool = new Pool(url.origin, { connections: r.concurrency, keepAliveTimeout: 60_000 });
  const start = performance.now() + r.warmupMs;
  const end = start + r.durationMs;
  const latencies: number[] = [];
  let completed = 0;
  let errors = 0;
  let firstError: string | undefined;
  let cpuStart = 0;
  const startTimer = setTimeout(() => (cpuStart = cpuMs()), r.warmupMs);
  const client = async (): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now();
      let problem: string | undefined;
      try {
        problem = await post(pool, url.pathname, r.kind);
      } catch (error) {
        problem = (error as Error).message;
      }
      const t1 = performance.now();
      if (problem) {
        errors += 1;
        firstError ??= problem;
        continue;
      }
      if (t1 >= start && t1 <= end) {
        completed += 1;
        latencies.push(t1 - t0);
      }
    }
  };
  await Promise.all(Array.from({ length: r.concurrency }, client));
  clearTimeout(startTimer);
  const cpu = cpuMs() - cpuStart;
  await pool.close();
  return {
    completed,
    latencies,
    windowMs: r.durationMs,
    errors,
    ...(firstError ? { firstError } : {}),
    cpuMs: cpu,
  };
}

async function fire(r: FireRequest): Promise<FireResult> {
  const url = new URL(r.url);
  const pool = new Pool(url.origin, { connections: r.concurrency, keepAliveTimeout: 60_000 });
  let next = 0;
  let accepted = 0;
  let errors = 0;
  let firstError: string | undefined;
  const latencies: number[] = [];
  const t0 = performance.now();
  const cpu0 = cpuMs();
  const client = async (): Promise<void> => {
    while (next < r.count) {
      next += 1;
      const s = performance.now();
      let problem: string | undefined;
      try {
        problem = await post(pool, url.pathname, 'fire');
      } catch (error) {
        problem = (error as Error).message;
      }
      if (problem) {
        errors += 1;
        firstError ??= problem;
      } else {
        accepted += 1;
        latencies.push(performance.now() - s);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(r.concurrency, r.count) }, client));
  const elapsedMs = performance.now() - t0;
  const cpu = cpuMs() - cpu0;
  await pool.close();
  return { accepted, errors, ...(firstError ? { firstError } : {}), elapsedMs, latencies, cpuMs: cpu };
}

let echo: Server | undefined;
// Without the parent (it stopped us, or it died), there is nothing to serve: exit.
process.on('disconnect', () => {
  echo?.closeAllConnections();
  echo?.close();
  process.exit(0);
});
process.on('message', (message: ParentMessage) => {
  void (async () => {
    try {
      switch (message.type) {
        case 'echo': {
          const started = await startEcho();
          echo = started.server;
          send({ type: 'echo', port: started.port });
          break;
        }
        case 'closed-loop':
          send({ type: 'closed-loop', result: await closedLoop(message) });
          break;
        case 'fire':
          send({ type: 'fire', result: await fire(message) });
          break;
        case 'cpu': {
          const u = process.cpuUsage();
          send({ type: 'cpu', userMs: u.user / 1000, systemMs: u.system / 1000 });
          break;
        }
        case 'stop':
          process.disconnect(); // exits through the 'disconnect' handler
          break;
        default: {
          const unknown: never = message;
          throw new Error(`unknown message ${JSON.stringify(unknown)}`);
        }
      }
    } catch (error) {
      send({ type: 'error', message: (error as Error).stack ?? String(error) });
    }
  })();
});
send({ type: 'ready' });
