// Who may talk to the console: a listener on loopback only, a random token
// per start (in the URL printed once), the Host header naming this listener
// (no DNS rebinding), and for the few writes a custom header carrying the
// token plus a same-origin check, which a cross-site form or fetch cannot send.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

export const TOKEN_COOKIE = 'sensor_ui_token';
export const TOKEN_HEADER = 'x-sensor-token';

export function newToken(): string {
  return randomBytes(24).toString('base64url');
}

/** 127.0.0.0/8, ::1 and localhost: the addresses only this host reaches. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1';
  return false;
}

/** `HOST:PORT`, `[::1]:PORT` or `PORT`; a non-loopback host is refused (no TLS or login here). */
export function parseListen(v: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(v) ?? /^()()(\d+)$/.exec(v);
  if (!m) throw new Error(`--listen ${JSON.stringify(v)}: expected HOST:PORT, e.g. 127.0.0.1:8377`);
  const host = m[1] || m[2] || '127.0.0.1';
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`--listen: port ${port} out of range`);
  if (!isLoopbackHost(host)) {
    throw new Error(`--listen ${host}: the console listens on loopback only (127.0.0.1, ::1, localhost); ` +
      'it has no TLS or login of its own, so a listener open to the network is refused. Reach it remotely through an SSH tunnel.');
  }
  return { host, port };
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookieToken(req: IncomingMessage): string | null {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === TOKEN_COOKIE) return v.join('=');
  }
  return null;
}

export interface AccessVerdict {
  ok: boolean;
  status?: 401 | 403 | 421;
  why?: string;
  /** the token came in the URL: set the cookie so the page's own requests carry it */
  setCookie?: boolean;
}

export class Access {
  constructor(readonly token: string, private readonly port: () => number) {}

  /** Host must name this listener by a loopback name: a rebound DNS name pointing here is refused. */
  private hostOk(req: IncomingMessage): boolean {
    const h = req.headers.host ?? '';
    const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(h);
    if (!m) return false;
    return isLoopbackHost(m[1] ?? m[2] ?? '') && Number(m[3] ?? 80) === this.port();
  }

  check(req: IncomingMessage, url: URL): AccessVerdict {
    if (!this.hostOk(req)) return { ok: false, status: 421, why: 'Host header does not name this loopback listener' };
    const fromUrl = url.searchParams.get('token');
    const fromHeader = req.headers[TOKEN_HEADER];
    const fromCookie = cookieToken(req);
    if (req.method === 'POST') {
      // Writes: the token in a custom header (a cross-site page cannot set one without a CORS grant, never given)
      // and, when the browser says where the request comes from, this very origin.
      if (typeof fromHeader !== 'string' || !same(fromHeader, this.token)) return { ok: false, status: 403, why: 'a write needs the token in the X-Sensor-Token header' };
      const origin = req.headers.origin;
      if (origin !== undefined && origin !== `http://${req.headers.host}`) return { ok: false, status: 403, why: 'cross-origin write refused' };
      if (req.headers['sec-fetch-site'] !== undefined && req.headers['sec-fetch-site'] !== 'same-origin') return { ok: false, status: 403, why: 'cross-site write refused' };
      return { ok: true };
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return { ok: false, status: 403, why: 'method not allowed' };
    for (const t of [fromUrl, typeof fromHeader === 'string' ? fromHeader : null, fromCookie]) {
      if (t !== null && same(t, this.token)) return { ok: true, setCookie: t === fromUrl && fromCookie !== this.token };
    }
    return { ok: false, status: 401, why: 'no valid token: open the URL `sensor ui` printed' };
  }

  cookie(): string {
    return `${TOKEN_COOKIE}=${this.token}; HttpOnly; SameSite=Strict; Path=/`;
  }
}
