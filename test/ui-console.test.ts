// `sensor ui` in a real headless browser (Debian's chromium driven by
// playwright-core; no browser is downloaded) over one live `sensor run`: the
// overview lists the scripted agent; a policy violation raised while the
// alerts page is open appears without a reload within 2 s of being stored;
// it opens with its evidence; Isolate on the page (confirmed) makes the
// agent's next connect fail with EPERM and Release restores it; the page
// makes no request beyond loopback; requests without the token (or writes
// without the header, or from another origin or Host) are refused.
// Screenshots of each page go to test-artifacts/ui/.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAlerts } from '../collector/store/alert-query.js';
import { BIN, ROOT, sensorProc, skipReason as cliSkip, startSensorRun, stopSensorRun, until, type Proc } from './helpers/sensor-cli.js';
import { loopbackServer } from './helpers/kernel.js';

const CHROMIUM = '/usr/bin/chromium';
const skipReason = cliSkip ?? (!existsSync(CHROMIUM) ? 'no /usr/bin/chromium (scripts/setup.sh installs Debian\'s chromium)'
  : !existsSync(join(ROOT, 'dist/ui/app.js')) ? 'dist/ui/ not built: run `bash scripts/build.sh`'
  : !existsSync(join(ROOT, 'bpf/egress/.output/egress-ctl')) ? 'bpf/egress not built: run `bash scripts/build.sh`' : null);
if (skipReason) console.warn(`ui-console: skipping: ${skipReason}`);

const ARTIFACTS = join(ROOT, 'test-artifacts/ui');
const EPERM = 1;

function raw(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.end(opts.body);
  });
}

describe.skipIf(skipReason !== null)('sensor ui in headless chromium', () => {
  let dir: string;
  let stateDir: string;
  let run: Proc | undefined;
  let ui: Proc | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let base = '';
  let token = '';
  let agentPid = 0;
  let portBad = 0;
  const offLoopback: string[] = [];
  const servers: { close(): Promise<void> }[] = [];
  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  const outLines = () => (existsSync(join(dir, 'out')) ? readFileSync(join(dir, 'out'), 'utf8').trim().split('\n') : []);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ui-console-'));
    stateDir = join(dir, 'state');
    mkdirSync(ARTIFACTS, { recursive: true });
    execFileSync('cc', ['-O1', '-o', join(dir, 'uiagent'), join(ROOT, 'test/fixtures/ui-agent.c')]);
    const ok = await loopbackServer();
    const bad = await loopbackServer();
    servers.push(ok, bad);
    portBad = bad.port;
    writeFileSync(join(dir, 'agents.yaml'), ['agents:', '  - name: uiagent', '    comm: ["uiagent"]', '    grants:', `      connect: ["127.0.0.1:${ok.port}"]`, ''].join('\n'));
    const socket = join(dir, 'c.sock');
    run = await startSensorRun(stateDir, socket, ['--config', join(dir, 'agents.yaml')]);
    const agent = spawnSync('sh', ['-c', `${join(dir, 'uiagent')} ${ok.port} ${bad.port} ${dir} >/dev/null 2>&1 & echo $!`], { encoding: 'utf8' });
    agentPid = Number(agent.stdout.trim());
    await until(() => outLines().includes('first ok'), 'the agent\'s first (granted) connect', 20_000);
    ui = sensorProc(['ui', '--state-dir', stateDir, '--listen', '127.0.0.1:0', '--collector', `unix://${socket}`]);
    await until(() => /open http:\/\/127\.0\.0\.1:\d+\/\?token=\S+/.test(ui!.out()) || ui!.child.exitCode !== null, 'sensor ui to print its URL', 20_000);
    const m = /open (http:\/\/127\.0\.0\.1:\d+)\/\?token=(\S+)/.exec(ui.out());
    if (!m) throw new Error(`sensor ui did not start:\n${ui.err()}`);
    [, base, token] = m as unknown as [string, string, string];
    browser = await chromium.launch({
      executablePath: CHROMIUM, headless: true, timeout: 60_000,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    const context = await browser.newContext({ viewport: { width: 1300, height: 900 } });
    // Only this console on loopback may be asked for anything; note (and refuse) whatever else the page tries.
    await context.route('**/*', (route) => {
      const u = new URL(route.request().url());
      if (u.hostname === '127.0.0.1') return route.continue();
      offLoopback.push(u.href);
      return route.abort();
    });
    page = await context.newPage();
    page.on('pageerror', (err) => console.log(`ui-console: page error: ${err.message}`));
  }, 180_000);

  afterAll(async () => {
    if (dir) writeFileSync(join(dir, 'stop'), '');
    if (agentPid) try { process.kill(agentPid); } catch { /* gone already */ }
    await browser?.close();
    if (ui && ui.child.exitCode === null) {
      ui.child.kill('SIGTERM');
      await Promise.race([ui.exited, new Promise((r) => setTimeout(r, 5000))]);
    }
    if (agentPid) spawnSync(process.execPath, [BIN, 'release', '--state-dir', stateDir, '--agent-pid', String(agentPid)], { timeout: 30_000 });
    if (run) await stopSensorRun(run);
    for (const s of servers) await s.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('refuses requests without the token, writes without the header, other origins and Host names', async () => {
    expect((await raw(`${base}/api/alerts`)).status).toBe(401);
    expect((await raw(`${base}/`)).status).toBe(401);
    expect((await raw(`${base}/?token=${token.slice(1)}x`)).status).toBe(401);
    expect((await raw(`${base}/api/live`)).status).toBe(401);
    expect((await raw(`${base}/api/alerts?token=${token}`)).status).toBe(200);
    const cookie = `sensor_ui_token=${token}`;
    const json = { 'content-type': 'application/json', cookie };
    const post = (headers: Record<string, string>) => raw(`${base}/api/instances/${agentPid}/isolate`, { method: 'POST', headers, body: '{"confirm":true}' });
    expect((await post(json)).status).toBe(403); // the cookie alone (what a cross-site form would carry) is not enough
    expect((await post({ ...json, 'x-sensor-token': token, origin: 'http://evil.example' })).status).toBe(403);
    expect((await raw(`${base}/api/alerts?token=${token}`, { headers: { host: `rebound.example:${new URL(base).port}` } })).status).toBe(421);
    expect((await raw(`${base}/api/instances/${agentPid}/isolate`, { method: 'POST', headers: { ...json, 'x-sensor-token': token }, body: '{}' })).status).toBe(400); // no confirm
    const open = spawnSync(process.execPath, [BIN, 'ui', '--state-dir', stateDir, '--listen', '0.0.0.0:0'], { encoding: 'utf8', timeout: 20_000 });
    expect(open.status).not.toBe(0);
    expect(open.stderr).toMatch(/loopback only/);
  });

  it('overview lists the agent of the run, live', async () => {
    await page.goto(`${base}/?token=${token}`);
    expect(new URL(page.url()).search).toBe(''); // the token left the address bar for an HttpOnly cookie
    await page.locator('[data-testid=agent]', { hasText: 'uiagent' }).waitFor({ timeout: 30_000 });
    await page.locator('[data-testid=agent]', { hasText: String(agentPid) }).waitFor({ timeout: 15_000 });
    await page.locator('[data-testid=live]', { hasText: 'live' }).waitFor({ timeout: 10_000 });
    await shot('overview');
  }, 60_000);

  it('an alert raised while the page is open appears within 2 s, and opens with its evidence', async () => {
    await page.goto(`${base}/#/alerts`);
    await page.locator('[data-testid=live]', { hasText: '● live' }).waitFor({ timeout: 10_000 });
    const db = new Database(join(stateDir, 'events.db'), { readonly: true, fileMustExist: true });
    let stored: { id: number; at: number } | null = null;
    try {
      writeFileSync(join(dir, 'go1'), '');
      const deadline = Date.now() + 30_000;
      while (!stored && Date.now() < deadline) {
        const a = listAlerts(db, { agent: 'uiagent', limit: 50 }).find((x) => x.agentPid === agentPid && x.rule === 'policy_violation');
        if (a) stored = { id: a.id, at: Date.now() };
        else await new Promise((r) => setTimeout(r, 25));
      }
    } finally {
      db.close();
    }
    expect(stored, 'the collector stored a policy_violation for the bad connect').not.toBeNull();
    const row = page.locator(`[data-testid=alert-row][data-alert-id="${stored!.id}"]`);
    await row.waitFor({ timeout: 10_000 });
    const shownAfterMs = Date.now() - stored!.at;
    console.log(`ui-console: alert ${stored!.id} shown ${shownAfterMs} ms after the store had it (no reload)`);
    expect(shownAfterMs).toBeLessThan(2000);
    await shot('alerts');
    await row.click();
    const evidence = page.locator('[data-testid=evidence-row]', { hasText: `:${portBad}` });
    await evidence.waitFor({ timeout: 10_000 });
    expect(await evidence.textContent()).toMatch(/connect/);
    await shot('alert-evidence');
  }, 60_000);

  it('Isolate on the page (confirmed) refuses the agent\'s next connect; Release undoes it', async () => {
    expect(page.url()).toMatch(/#\/alerts\/\d+$/);
    await page.click('[data-testid=isolate]');
    await shot('isolate-confirm');
    await page.click('[data-testid=confirm]');
    await page.locator('[data-testid=action-result]', { hasText: /^isolate: instance/ }).waitFor({ timeout: 30_000 });
    writeFileSync(join(dir, 'go2'), '');
    await until(() => outLines().some((l) => l.startsWith('after ')), 'the agent\'s connect after isolation', 20_000);
    expect(outLines().find((l) => l.startsWith('after '))).toBe(`after ${EPERM}`);
    await page.click('[data-testid=release]');
    await page.click('[data-testid=confirm]');
    await page.locator('[data-testid=action-result]', { hasText: /^release: instance/ }).waitFor({ timeout: 30_000 });
    await shot('alert-released');
  }, 60_000);

  it('timeline of the instance: tree, time axis with zoom, the evidence bundle as `sensor collect` makes it', async () => {
    await page.goto(`${base}/#/timeline/${agentPid}`);
    await page.locator('[data-testid=tree]', { hasText: String(agentPid) }).waitFor({ timeout: 15_000 });
    const marks = page.locator('[data-testid=axis] rect');
    await marks.first().waitFor({ timeout: 10_000 });
    expect(await page.locator('text=isolate').count()).toBeGreaterThan(0); // the response is on the timeline
    await page.locator('[data-testid=axis] text', { hasText: `127.0.0.1:${portBad}` }).first().waitFor({ timeout: 5000 }); // a lane per destination
    await shot('timeline');
    await page.click('text=zoom in');
    await shot('timeline-zoomed');
    const href = await page.locator('[data-testid=bundle]').getAttribute('href');
    const r = await page.request.get(`${base}${href}`);
    expect(r.status()).toBe(200);
    expect(r.headers()['content-type']).toBe('application/gzip');
    const body = await r.body();
    expect([...body.subarray(0, 2)]).toEqual([0x1f, 0x8b]);
    expect(r.headers()['x-manifest-sha256']).toMatch(/^[0-9a-f]{64}$/);
  }, 60_000);

  it('baseline of the agent, and no request left loopback', async () => {
    // A learning baseline is saved every 30 s; ending learning saves it at once.
    expect(execFileSync(process.execPath, [BIN, 'baseline', '--state-dir', stateDir, '--agent', 'uiagent', '--freeze'], { encoding: 'utf8', timeout: 30_000 }))
      .toMatch(/uiagent: frozen/);
    await page.goto(`${base}/#/baseline/uiagent`);
    await page.locator('main h1, main .error').first().waitFor({ timeout: 15_000 });
    expect(await page.locator('main').textContent()).toMatch(/^Baseline of uiagent: detecting/);
    await page.locator('main td', { hasText: /^loopback:\d+$/ }).first().waitFor({ timeout: 5000 });
    await shot('baseline');
    expect(offLoopback).toEqual([]);
  }, 30_000);

  it('the page bundles from node_modules with no network (as scripts/build.sh does)', () => {
    const out = join(dir, 'offline-app.js');
    const r = spawnSync('unshare', ['-n', join(ROOT, 'node_modules/.bin/esbuild'), join(ROOT, 'sensor/ui/web/main.jsx'), '--bundle', '--format=esm',
      '--jsx=automatic', '--jsx-import-source=preact', `--outfile=${out}`, '--log-level=warning'], { encoding: 'utf8', timeout: 60_000, cwd: ROOT });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toMatch(/EventSource\("\/api\/live"\)/);
  }, 60_000);
});
