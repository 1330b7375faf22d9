// The console's access rules without a browser or a kernel: loopback-only
// listeners, the token (URL, cookie, header), the Host check against DNS
// rebinding and the write checks against cross-site requests.
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { Access, parseListen, TOKEN_COOKIE } from '../sensor/ui/access.js';

const PORT = 8377;
const TOKEN = 'tok-0123456789abcdef';
const access = new Access(TOKEN, () => PORT);
const req = (method: string, headers: Record<string, string>): IncomingMessage =>
  ({ method, headers: { host: `127.0.0.1:${PORT}`, ...headers } }) as unknown as IncomingMessage;
const check = (method: string, path: string, headers: Record<string, string> = {}) =>
  access.check(req(method, headers), new URL(path, 'http://localhost'));

describe('sensor ui access', () => {
  it('listens on loopback only', () => {
    expect(parseListen('127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseListen('[::1]:8080')).toEqual({ host: '::1', port: 8080 });
    expect(parseListen('localhost:9')).toEqual({ host: 'localhost', port: 9 });
    expect(parseListen('8377')).toEqual({ host: '127.0.0.1', port: 8377 });
    for (const v of ['0.0.0.0:8377', '192.168.1.5:80', '[::]:80', 'example.com:80']) expect(() => parseListen(v)).toThrow(/loopback only/);
    expect(() => parseListen('127.0.0.1:70000')).toThrow(/out of range/);
    expect(() => parseListen('nonsense')).toThrow(/HOST:PORT/);
  });

  it('reads need the token: in the URL (then a cookie is set), the cookie, or the header', () => {
    expect(check('GET', '/api/alerts')).toMatchObject({ ok: false, status: 401 });
    expect(check('GET', '/api/alerts?token=wrong')).toMatchObject({ ok: false, status: 401 });
    expect(check('GET', `/?token=${TOKEN}`)).toEqual({ ok: true, setCookie: true });
    expect(check('GET', '/api/alerts', { cookie: `a=b; ${TOKEN_COOKIE}=${TOKEN}` })).toEqual({ ok: true, setCookie: false });
    expect(check('GET', '/api/alerts', { 'x-sensor-token': TOKEN })).toMatchObject({ ok: true });
    expect(check('DELETE', `/api/alerts?token=${TOKEN}`)).toMatchObject({ ok: false, status: 403 });
    expect(access.cookie()).toMatch(/HttpOnly; SameSite=Strict/);
  });

  it('a Host that is not this loopback listener is refused (DNS rebinding)', () => {
    expect(check('GET', `/?token=${TOKEN}`, { host: `attacker.example:${PORT}` })).toMatchObject({ ok: false, status: 421 });
    expect(check('GET', `/?token=${TOKEN}`, { host: '127.0.0.1:9999' })).toMatchObject({ ok: false, status: 421 });
    expect(check('GET', `/?token=${TOKEN}`, { host: `localhost:${PORT}` })).toMatchObject({ ok: true });
  });

  it('writes need the token header, and a same-origin request when the browser says where it comes from', () => {
    const cookie = `${TOKEN_COOKIE}=${TOKEN}`;
    expect(check('POST', '/api/instances/1/isolate', { cookie })).toMatchObject({ ok: false, status: 403 });
    expect(check('POST', `/api/instances/1/isolate?token=${TOKEN}`)).toMatchObject({ ok: false, status: 403 });
    expect(check('POST', '/api/instances/1/isolate', { 'x-sensor-token': TOKEN, origin: 'http://evil.example' })).toMatchObject({ ok: false, status: 403 });
    expect(check('POST', '/api/instances/1/isolate', { 'x-sensor-token': TOKEN, 'sec-fetch-site': 'cross-site' })).toMatchObject({ ok: false, status: 403 });
    expect(check('POST', '/api/instances/1/isolate', { 'x-sensor-token': TOKEN, origin: `http://127.0.0.1:${PORT}`, 'sec-fetch-site': 'same-origin' })).toEqual({ ok: true });
  });
});
