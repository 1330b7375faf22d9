#!/usr/bin/env node
// Forwarder throughput: events/s from the store to each output, each a real
// server started here on loopback (rsyslog over TCP and TLS, ClickHouse over
// HTTP), timed from the forwarder's start until the destination holds every
// event. Bounded: BENCH_FORWARD_EVENTS events (default 50k; 10k with
// BENCH_QUICK=1), at most 5 minutes per output. A server that is not installed
// is skipped with its reason.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventStore } from '../dist/collector/store/event-store.js';
import { openForwardDatabase } from '../dist/collector/forward/forward-db.js';
import { parseDestination } from '../dist/collector/forward/destination.js';
import { Forwarder } from '../dist/collector/forward/forwarder.js';

const N = Number(process.env.BENCH_FORWARD_EVENTS ?? (process.env.BENCH_QUICK === '1' ? 10_000 : 50_000));
const LIMIT_MS = 300_000;
const WORK = mkdtempSync(join(tmpdir(), 'agent-sensor-bench-forward-'));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const freePort = () => new Promise((resolve) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});
const portOpen = (port) => new Promise((resolve) => {
  const s = connect({ host: '127.0.0.1', port });
  s.once('connect', () => { s.destroy(); resolve(true); });
  s.once('error', () => resolve(false));
});
async function until(what, ok, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok()) return;
    await sleep(50);
  }
  throw new Error(`timed out: ${what}`);
}

function fillStore(stateDir) {
  const store = EventStore.open({ stateDir, hashing: { enabled: false } });
  const base = BigInt(Date.now()) * 1_000_000n;
  const head = (i) => ({ ts: '', tsNs: String(base + BigInt(i)), pid: 4242, tid: 4242, ppid: 1, uid: 1000, gid: 1000, comm: 'bench-agent',
    agent: 'bench', cgroupId: '8123', netns: 4026531840, mntns: 4026531841 });
  let seq = 0n;
  for (let b = 0; b < N / 1000; b++) {
    const events = [];
    for (let j = 0; j < 1000; j++) {
      const i = b * 1000 + j;
      if (i % 10 === 0) events.push({ ...head(i), type: 'exec', filename: '/usr/bin/git', argv: ['git', 'status', `--n=${i}`], startNs: String(i) });
      else if (i % 10 === 1) events.push({ ...head(i), type: 'connect', family: 'inet', proto: 'tcp', addr: '10.0.0.5', port: 443, result: 0 });
      else events.push({ ...head(i), type: 'open', path: `/home/u/project/src/file${i % 500}.ts`, flags: 0, mode: 0, access: 'read', result: 3, syscall: 'openat' });
    }
    store.commitBatch({ sensorId: 'bench-sensor', bootId: 'b', seq: ++seq, events });
  }
  return store;
}

async function startRsyslog(dir) {
  if (!existsSync('/usr/sbin/rsyslogd')) return { skip: 'rsyslogd not installed' };
  if (!existsSync('/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so')) return { skip: 'rsyslog-gnutls not installed' };
  mkdirSync(join(dir, 'work'), { recursive: true });
  const p = (f) => join(dir, f);
  const ssl = (...a) => execFileSync('openssl', a, { stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '1', '-subj', '/CN=bench CA');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=localhost');
  writeFileSync(p('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl('x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('server.pem'), '-days', '1', '-extfile', p('ext.cnf'));
  const tcp = await freePort();
  const tls = await freePort();
  writeFileSync(p('rsyslog.conf'), `
global(workDirectory="${dir}/work" maxMessageSize="64k" defaultNetstreamDriverCAFile="${p('ca.pem')}"
  defaultNetstreamDriverCertFile="${p('server.pem')}" defaultNetstreamDriverKeyFile="${p('server.key')}")
module(load="imtcp")
input(type="imtcp" port="${tcp}" address="127.0.0.1" ruleset="tcp")
input(type="imtcp" port="${tls}" address="127.0.0.1" ruleset="tls" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
template(name="raw" type="string" string="%rawmsg%\\n")
ruleset(name="tcp") { action(type="omfile" file="${dir}/tcp.log" template="raw") }
ruleset(name="tls") { action(type="omfile" file="${dir}/tls.log" template="raw") }
`);
  const child = spawn('/usr/sbin/rsyslogd', ['-n', '-f', p('rsyslog.conf'), '-i', p('pid')], { stdio: 'ignore' });
  await until('rsyslog', async () => (await portOpen(tcp)) && portOpen(tls), 20_000);
  const lines = (f) => (existsSync(p(f)) ? readFileSync(p(f)).reduce((n, b) => n + (b === 10 ? 1 : 0), 0) : 0);
  return {
    targets: [
      { name: 'syslog+tcp (rsyslog)', url: `syslog+tcp://127.0.0.1:${tcp}`, tls: {}, count: async () => lines('tcp.log') },
      { name: 'syslog+tls (rsyslog)', url: `syslog+tls://127.0.0.1:${tls}`, tls: { ca: p('ca.pem') }, count: async () => lines('tls.log') },
    ],
    stop: () => child.kill('SIGTERM'),
  };
}

async function startClickHouse(dir) {
  if (!existsSync('/usr/sbin/clickhouse-server')) return { skip: 'clickhouse-server not installed' };
  for (const d of ['data', 'tmp', 'user_files', 'log']) mkdirSync(join(dir, d), { recursive: true });
  const port = await freePort();
  const tcp = await freePort();
  writeFileSync(join(dir, 'config.xml'), `<?xml version="1.0"?><yandex>
  <logger><level>warning</level><log>${dir}/log/server.log</log><errorlog>${dir}/log/error.log</errorlog></logger>
  <http_port>${port}</http_port><tcp_port>${tcp}</tcp_port><listen_host>127.0.0.1</listen_host>
  <path>${dir}/data/</path><tmp_path>${dir}/tmp/</tmp_path><user_files_path>${dir}/user_files/</user_files_path>
  <users_config>${dir}/users.xml</users_config><default_profile>default</default_profile><default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size></yandex>`);
  writeFileSync(join(dir, 'users.xml'), `<?xml version="1.0"?><yandex><profiles><default></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas></yandex>`);
  const child = spawn('/usr/sbin/clickhouse-server', [`--config-file=${dir}/config.xml`], { stdio: 'ignore' });
  const q = async (sql) => (await (await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: sql })).text()).trim();
  await until('clickhouse', async () => (await q('SELECT 1').catch(() => '')) === '1', 60_000);
  const count = async () => Number(await q(`SELECT (SELECT count() FROM bench.process_activity) + (SELECT count() FROM bench.file_system_activity)
    + (SELECT count() FROM bench.network_activity)`).catch(() => 0)) || 0;
  return { targets: [{ name: 'clickhouse+http', url: `clickhouse+http://127.0.0.1:${port}/bench`, tls: {}, count }], stop: () => child.kill('SIGTERM') };
}

async function measure(stateDir, t) {
  const db = openForwardDatabase(stateDir);
  const f = new Forwarder({ db, output: parseDestination(t.url, t.tls), product: { version: 'bench' }, collectorName: 'bench', pollMs: 20 });
  const t0 = process.hrtime.bigint();
  f.start();
  try {
    await until(`${t.name}: ${N} events`, async () => (await t.count()) >= N, LIMIT_MS);
  } finally {
    await f.stop();
    db.close();
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return { seconds: s, rate: N / s };
}

async function main() {
  console.log(`forwarder: ${N} stored events (80% open, 10% exec, 10% connect) to each output, each a real server on loopback`);
  const stateDir = join(WORK, 'state');
  const store = fillStore(stateDir);
  const servers = [await startRsyslog(join(WORK, 'rsyslog')), await startClickHouse(join(WORK, 'clickhouse'))];
  try {
    for (const s of servers) {
      if (s.skip) {
        console.log(`  skipped: ${s.skip}`);
        continue;
      }
      for (const t of s.targets) {
        const r = await measure(stateDir, t);
        console.log(`  ${t.name.padEnd(22)} ${Math.round(r.rate).toLocaleString('en-US').padStart(8)} events/s  (${r.seconds.toFixed(2)} s, until the server held all ${N})`);
      }
    }
  } finally {
    for (const s of servers) s.stop?.();
    await store.close();
    await sleep(500);
    rmSync(WORK, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (err) => {
  console.error(`bench/forward: ${err.message}`);
  process.exit(1);
});
