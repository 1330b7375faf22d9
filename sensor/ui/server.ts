// `sensor ui`'s HTTP server: the bundled page (dist/ui/, built by
// scripts/build.sh; nothing is fetched at run time), the JSON API under
// /api/, the alert feed (SSE) and the containment writes, all behind the
// per-start token (access.ts).
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type Database from 'better-sqlite3';
import { Access, newToken } from './access.js';
import { ACTIONS, containmentAction, type ContainmentAction } from './actions.js';
import { alertDetail, alerts, ApiError, baseline, bundle, overview, timeline, type ApiContext } from './api.js';
import { LiveAlerts } from './live-alerts.js';

/** dist/sensor/ui/server.js -> dist/ui/ */
export const BUNDLE_DIR = fileURLToPath(new URL('../../ui/', import.meta.url));

const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
};

/** bigints (ns times in stored rows) as strings */
const json = (v: unknown): string => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));

const MAX_BODY = 16 * 1024;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      body += d;
      if (body.length > MAX_BODY) reject(new ApiError(413, 'request body too large'));
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

export interface UiServerOptions {
  db: Database.Database;
  stateDir: string;
  collector: string;
  host: string;
  port: number;
  token?: string;
}

export interface UiServer {
  url: string;
  token: string;
  server: Server;
  close(): Promise<void>;
}

export async function startUiServer(opts: UiServerOptions): Promise<UiServer> {
  const files = new Map<string, Buffer>();
  for (const s of Object.values(STATIC)) {
    try {
      files.set(s.file, readFileSync(`${BUNDLE_DIR}${s.file}`));
    } catch {
      throw new Error(`the console's page is not built (${BUNDLE_DIR}${s.file} missing): run \`bash scripts/build.sh\``);
    }
  }
  const token = opts.token ?? newToken();
  let port = opts.port;
  const access = new Access(token, () => port);
  const ctx: ApiContext = { db: opts.db, stateDir: opts.stateDir, collector: opts.collector };
  const live = new LiveAlerts(opts.db);

  const send = (res: ServerResponse, status: number, body: string | Buffer, type: string, extra: Record<string, string> = {}) => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, ...extra });
    res.end(body);
  };
  const sendJson = (res: ServerResponse, status: number, v: unknown) => send(res, status, json(v), 'application/json; charset=utf-8');

  async function route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    if (req.method === 'POST') {
      const m = /^\/api\/instances\/(\d+)\/(\w+)$/.exec(path);
      if (!m || !(ACTIONS as readonly string[]).includes(m[2]!)) throw new ApiError(404, 'no such action');
      if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) throw new ApiError(415, 'expected application/json');
      let body: { reason?: unknown; confirm?: unknown };
      try {
        body = JSON.parse((await readBody(req)) || '{}') as typeof body;
      } catch {
        throw new ApiError(400, 'body: not JSON');
      }
      // The page asks the person first; the API insists it did.
      if (body.confirm !== true) throw new ApiError(400, 'confirm: true required (the page asks for confirmation first)');
      const reason = typeof body.reason === 'string' && body.reason.trim() ? body.reason.slice(0, 500) : null;
      const r = await containmentAction(opts.stateDir, m[2] as ContainmentAction, Number(m[1]), reason);
      sendJson(res, 200, r);
      return;
    }
    const file = STATIC[path];
    if (file) {
      if (url.searchParams.has('token')) {
        // Keep the token out of the address bar (and history, screenshots) once the cookie holds it.
        res.writeHead(303, { ...SECURITY_HEADERS, location: '/', 'set-cookie': access.cookie() });
        res.end();
        return;
      }
      // The page's writes carry the token in a header: it is handed to the page that already proved it holds it.
      const body = file.file === 'index.html' ? files.get(file.file)!.toString('utf8').replace('%SENSOR_UI_TOKEN%', token) : files.get(file.file)!;
      send(res, 200, body, file.type);
      return;
    }
    if (path === '/api/live') {
      live.subscribe(req, res);
      return;
    }
    if (path === '/api/overview') return sendJson(res, 200, await overview(ctx));
    if (path === '/api/alerts') return sendJson(res, 200, alerts(ctx, url.searchParams));
    let m = /^\/api\/alerts\/(\d+)$/.exec(path);
    if (m) return sendJson(res, 200, alertDetail(ctx, Number(m[1])));
    if (path === '/api/timeline') return sendJson(res, 200, timeline(ctx, url.searchParams));
    if (path === '/api/baseline') return sendJson(res, 200, baseline(ctx, url.searchParams));
    m = /^\/api\/instances\/(\d+)\/bundle$/.exec(path);
    if (m) {
      const b = bundle(ctx, Number(m[1]));
      return send(res, 200, b.data, 'application/gzip', {
        'content-disposition': `attachment; filename="${b.name}"`, 'x-manifest-sha256': b.sha256,
      });
    }
    throw new ApiError(404, `nothing at ${path}`);
  }

  const server = createServer((req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return send(res, 400, 'bad request\n', 'text/plain');
    }
    const verdict = access.check(req, url);
    if (!verdict.ok) return sendJson(res, verdict.status!, { error: verdict.why });
    if (verdict.setCookie) res.setHeader('set-cookie', access.cookie());
    route(req, res, url).catch((err: unknown) => {
      const status = err instanceof ApiError ? err.status : 500;
      if (!res.headersSent) sendJson(res, status, { error: (err as Error).message });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const hostText = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${hostText}:${port}/?token=${token}`,
    token,
    server,
    close: () => new Promise<void>((resolve) => {
      live.close();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
