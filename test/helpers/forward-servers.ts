// Real servers for the forwarder tests, each its own process on loopback with
// its own config and data in a temp dir: rsyslog (imtcp, plain and TLS via
// gtls, certificates made with openssl) and ClickHouse (clickhouse-server).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { createServer } from 'node:net';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const RSYSLOGD = '/usr/sbin/rsyslogd';
const GTLS = '/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so';
const CLICKHOUSE = '/usr/sbin/clickhouse-server';

export function rsyslogSkipReason(): string | null {
  if (!existsSync(RSYSLOGD)) return 'rsyslogd is not installed (Debian package rsyslog)';
  if (!existsSync(GTLS)) return 'rsyslog TLS driver missing (Debian package rsyslog-gnutls)';
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    return 'openssl is not installed';
  }
  return null;
}

export function clickhouseSkipReason(): string | null {
  return existsSync(CLICKHOUSE) ? null : 'clickhouse-server is not installed (Debian package clickhouse-server)';
}

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** A CA and a server certificate for 127.0.0.1 / localhost. */
export function makeCerts(dir: string): { ca: string; cert: string; key: string } {
  const p = (f: string) => join(dir, f);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '2', '-subj', '/CN=agent-sensor test CA');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=localhost');
  writeFileSync(p('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl('x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('server.pem'), '-days', '2', '-extfile', p('ext.cnf'));
  return { ca: p('ca.pem'), cert: p('server.pem'), key: p('server.key') };
}

export interface Rsyslog {
  tcpPort: number;
  tlsPort: number;
  ca: string;
  start(): Promise<void>;
  /** SIGTERM: rsyslog closes its connections and flushes its queue */
  stop(): Promise<void>;
  /** %rawmsg% per line: the message exactly as received, without the frame length */
  raw(): string[];
  /** rsyslog's own parse: hostname|app-name|msgid|structured-data|msg */
  parsed(): string[];
}

export async function rsyslog(dir: string): Promise<Rsyslog> {
  mkdirSync(join(dir, 'work'), { recursive: true });
  const certs = makeCerts(dir);
  const tcpPort = await freePort();
  const tlsPort = await freePort();
  const conf = join(dir, 'rsyslog.conf');
  writeFileSync(conf, `
global(workDirectory="${dir}/work" maxMessageSize="64k"
  defaultNetstreamDriverCAFile="${certs.ca}" defaultNetstreamDriverCertFile="${certs.cert}" defaultNetstreamDriverKeyFile="${certs.key}")
module(load="imtcp" maxSessions="200")
input(type="imtcp" port="${tcpPort}" address="127.0.0.1" ruleset="out")
input(type="imtcp" port="${tlsPort}" address="127.0.0.1" ruleset="out" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
template(name="raw" type="string" string="%rawmsg%\\n")
template(name="parsed" type="string" string="%hostname%|%app-name%|%msgid%|%structured-data%|%msg%\\n")
ruleset(name="out") {
  action(type="omfile" file="${dir}/raw.log" template="raw")
  action(type="omfile" file="${dir}/parsed.log" template="parsed")
}
`);
  let child: ChildProcess | null = null;
  const lines = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8').split('\n').filter((l) => l.length > 0) : []);
  const r: Rsyslog = {
    tcpPort, tlsPort, ca: certs.ca,
    async start() {
      child = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
      const c = child;
      await waitFor(`rsyslog on ${tcpPort} (${err})`, async () => {
        if (c.exitCode !== null) throw new Error(`rsyslogd exited: ${err}`);
        return (await portOpen(tcpPort)) && portOpen(tlsPort);
      });
    },
    async stop() {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null) return;
      const gone = new Promise((res) => c.once('exit', res));
      c.kill('SIGTERM');
      await Promise.race([gone, new Promise((res) => setTimeout(res, 10_000))]);
      if (c.exitCode === null) c.kill('SIGKILL');
    },
    raw: () => lines('raw.log'),
    parsed: () => lines('parsed.log'),
  };
  await r.start();
  return r;
}

export interface ClickHouse {
  port: number;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** a statement over HTTP; the TabSeparated answer */
  query(sql: string): Promise<string>;
}

export async function clickhouse(dir: string): Promise<ClickHouse> {
  for (const d of ['data', 'tmp', 'user_files', 'log']) mkdirSync(join(dir, d), { recursive: true });
  const port = await freePort();
  const tcp = await freePort();
  writeFileSync(join(dir, 'config.xml'), `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/log/server.log</log><errorlog>${dir}/log/error.log</errorlog><size>10M</size><count>1</count></logger>
  <http_port>${port}</http_port>
  <tcp_port>${tcp}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
</yandex>
`);
  writeFileSync(join(dir, 'users.xml'), `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>1000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`);
  let child: ChildProcess | null = null;
  const query = async (sql: string): Promise<string> => {
    const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: sql });
    const text = await res.text();
    if (!res.ok) throw new Error(`ClickHouse ${res.status}: ${text}`);
    return text;
  };
  const ch: ClickHouse = {
    port, query,
    async start() {
      child = spawn(CLICKHOUSE, [`--config-file=${dir}/config.xml`], { stdio: 'ignore' });
      const c = child;
      await waitFor(`clickhouse on ${port}`, async () => {
        if (c.exitCode !== null) throw new Error(`clickhouse-server exited with ${c.exitCode}: see ${dir}/log/error.log`);
        try {
          return (await query('SELECT 1')).trim() === '1';
        } catch {
          return false;
        }
      }, 60_000);
    },
    async stop() {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null) return;
      const gone = new Promise((res) => c.once('exit', res));
      c.kill('SIGTERM');
      await Promise.race([gone, new Promise((res) => setTimeout(res, 20_000))]);
      if (c.exitCode === null) {
        c.kill('SIGKILL');
        await gone;
      }
    },
  };
  await ch.start();
  return ch;
}
