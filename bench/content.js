#!/usr/bin/env node
// Cost of content capture (bpf/content, loaded by content-ctl), at the
// socket level (the default: cgroup programs register agent sockets at
// connect/sendmsg and cgroup_skb/egress and /ingress copy their packets both
// ways; other sockets end at one cookie lookup per packet each way, and no
// program runs on read/write/open)
// and at the syscall level (the fallback: tracepoints on write/sendto/writev/
// sendmsg that every process passes, ended at the tracked-tgid lookup), with
// the uprobes on node's SSL_write/SSL_read (preattached, as `sensor run` does).
// Four loops:
//   open:    open/read/close of a small file (C)
//   socket:  200-byte writes to a loopback TCP sink (C, so only the loop's syscalls)
//   receive: reads of 10x as many bytes from a loopback TCP source (C; ingress:
//            not captured at the syscall level)
//   https:   sequential keep-alive HTTPS POSTs of 2 KiB from node to a loopback server
// each timed with no capture loaded ("off"), with capture loaded and the
// process not an agent ("untracked"), and as a tracked agent ("tracked":
// bytes copied and streamed), at both levels. The runs of one round are
// interleaved; ratio = median over rounds of (run / the round's off run).
// Beside the wall ratios (rough on a loaded machine): the kernel's own count
// of time spent in each capture program (bpf_stats), bytes captured per
// second with none lost, and what is cut.
// Not a test. Needs root and the built tree. Usage: node bench/content.js
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContentCtl } from '../dist/sensor/content/content-ctl.js';
import { accumulate, delta, enableBpfStats, format, programIdsOf, snapshot } from './bpf-stats.js';

const ROOT = new URL('..', import.meta.url).pathname;
const ROUNDS = Number(process.env.BENCH_PAIRS ?? 5);
const QUICK = process.env.BENCH_QUICK === '1';
const N_WRITES = QUICK ? 50_000 : 200_000;
const N_REQS = QUICK ? 300 : 1_000;
const dir = mkdtempSync(join(tmpdir(), 'content-bench-'));

if (process.getuid?.() !== 0) {
  console.log('content bench: skipped (needs root to load BPF)');
  process.exit(0);
}

writeFileSync(join(dir, 'writer.c'), `
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
int main(int argc, char **argv) {
  int n = atoi(argv[1]), port = atoi(argv[2]);
  char go[2]; if (read(0, go, 1) < 0) return 1; /* wait until tracked (or not) */
  if (port == 0) { /* the open/read/close loop: no hook of the capture is on these calls */
    struct timespec t0, t1; char b[64];
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) { int fd = open(argv[3], O_RDONLY); if (fd < 0 || read(fd, b, sizeof b) < 0) return 1; close(fd); }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%lld\\n", (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec));
    return 0;
  }
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(0x7f000001) };
  if (connect(s, (struct sockaddr *)&a, sizeof a)) { perror("connect"); return 1; }
  char buf[65536]; memset(buf, 'a', sizeof buf);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if (argc > 3) { /* receive: n x 200 bytes from the source */
    long long want = (long long)n * 200, got = 0;
    while (got < want) { ssize_t r = read(s, buf, sizeof buf); if (r <= 0) { perror("read"); return 1; } got += r; }
  } else {
    for (int i = 0; i < n; i++) if (write(s, buf, 200) != 200) { perror("write"); return 1; }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("%lld\\n", (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec));
  return 0;
}`);
execFileSync('cc', ['-O2', '-o', join(dir, 'writer'), join(dir, 'writer.c')]);
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
  '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt')], { stdio: 'ignore' });
writeFileSync(join(dir, 'servers.js'), `
const net = require('net'), https = require('https'), fs = require('fs');
const chunk = Buffer.alloc(65536, 'b');
/* A source: 64 KiB writes for as long as the reader reads. */
const source = net.createServer((c) => {
  c.on('error', () => {});
  const more = () => { while (!c.destroyed && c.write(chunk)); };
  c.on('drain', more);
  more();
}).listen(0, '127.0.0.1');
const sink = net.createServer((c) => c.resume()).listen(0, '127.0.0.1', () => {
  const h = https.createServer({ key: fs.readFileSync('${dir}/tls.key'), cert: fs.readFileSync('${dir}/tls.crt') }, (req, res) => {
    req.resume(); req.on('end', () => res.end('ok'));
  }).listen(0, '127.0.0.1', () => console.log(sink.address().port + ' ' + h.address().port + ' ' + source.address().port));
});`);
writeFileSync(join(dir, 'https-client.js'), `
const https = require('https');
const [, , n, port] = process.argv;
const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
const body = 'x'.repeat(2048);
process.stdin.once('data', async () => {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < Number(n); i++) {
    await new Promise((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/x', agent, ca: require('fs').readFileSync('${dir}/tls.crt') }, (res) => { res.resume(); res.on('end', resolve); });
      req.on('error', reject); req.end(body);
    });
  }
  console.log(String(process.hrtime.bigint() - t0));
  process.exit(0);
  agent.destroy();
});`);

const servers = spawn(process.execPath, [join(dir, 'servers.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
const [sinkPort, httpsPort, sourcePort] = await new Promise((r) => servers.stdout.once('data', (d) => r(String(d).trim().split(' ').map(Number))));

/** Runs one loop; `before(pid)` runs once the process exists and before it starts. Seconds. */
function timed(cmd, args, before) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(Number(out.trim()) / 1e9) : reject(new Error(`${cmd} exited ${code}`))));
    Promise.resolve(before(child.pid)).then(() => setTimeout(() => child.stdin.write('g'), 50));
  });
}

writeFileSync(join(dir, 'data.txt'), 'benchmark payload\n');
const loops = {
  open: () => [join(dir, 'writer'), [String(N_WRITES), '0', join(dir, 'data.txt')]],
  socket: () => [join(dir, 'writer'), [String(N_WRITES), String(sinkPort)]],
  // 10x the socket loop's bytes: loopback delivers them in 64 KiB packets, far faster than 200 B writes.
  receive: () => [join(dir, 'writer'), [String(N_WRITES * 10), String(sourcePort), 'read']],
  https: () => [process.execPath, [join(dir, 'https-client.js'), String(N_REQS), String(httpsPort)]],
};
const LEVELS = ['socket', 'syscall'];
const COLUMNS = ['off', ...LEVELS.flatMap((l) => [`untracked ${l}`, `tracked ${l}`])];
const results = Object.fromEntries(Object.keys(loops).map((k) => [k, Object.fromEntries(COLUMNS.map((c) => [c, []]))]));
const kernel = Object.fromEntries(Object.keys(loops).map((k) => [k, Object.fromEntries(COLUMNS.slice(1).map((c) => [c, new Map()]))]));
/** tracked socket and receive loops, per level: what was captured each way */
const CAPTURE_LOOPS = ['socket', 'receive'];
const captured = Object.fromEntries(CAPTURE_LOOPS.flatMap((n) => LEVELS.map((l) => [`${n} ${l}`,
  { records: 0, egress: 0, ingress: 0, seconds: 0, lost: 0, cutWrite: 0, cutConn: 0, retrans: 0 }])));
const restoreStats = enableBpfStats();
let last;

/** One timed run under a loaded capture, with the kernel time of its programs. */
async function measured(name, column, ids, cmd, args, before) {
  const a = snapshot(ids);
  const t = await timed(cmd, args, before);
  accumulate(kernel[name][column], delta(a, snapshot(ids)));
  results[name][column].push(t);
  return t;
}

for (let round = 0; round < ROUNDS; round++) {
  for (const name of Object.keys(loops)) {
    const [cmd, args] = loops[name]();
    results[name].off.push(await timed(cmd, args, () => {}));
    for (const level of LEVELS) {
      let records = 0;
      const bytes = { egress: 0, ingress: 0 };
      const ctl = await ContentCtl.start({ maxWrite: 16384, maxConnEgress: 1 << 30, maxConnIngress: 1 << 30 }, (r) => { records++; bytes[r.direction] += r.data.length; },
        undefined, undefined, undefined, level);
      if (ctl.mode !== level) throw new Error(`content-ctl runs at the ${ctl.mode} level, not ${level}: ${ctl.fallback}`);
      await ctl.attach(realpathSync(process.execPath));
      const ids = programIdsOf(ctl.pid);
      await measured(name, `untracked ${level}`, ids, cmd, args, () => {});
      const t = await measured(name, `tracked ${level}`, ids, cmd, args, (pid) => ctl.track(pid));
      await new Promise((r) => setTimeout(r, 300));
      last = await ctl.counters();
      await ctl.stop();
      if (CAPTURE_LOOPS.includes(name)) {
        const c = captured[`${name} ${level}`];
        c.records += records;
        c.egress += bytes.egress;
        c.ingress += bytes.ingress;
        c.seconds += t;
        c.lost += last.lostRecords;
        c.cutWrite += last.cutWriteBytes;
        c.cutConn += last.cutConnBytes;
        c.retrans += last.retransBytes ?? 0;
      }
    }
  }
}
restoreStats();
servers.kill();

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ratio = (xs, offs) => median(xs.map((x, i) => x / offs[i]));
console.log(`content capture overhead (${ROUNDS} interleaved rounds; median of run / that round's run with no capture loaded; wall time, rough under load):`);
for (const name of Object.keys(loops)) {
  const r = results[name];
  const what = { open: `${N_WRITES} x open/read/close`, socket: `${N_WRITES} x 200 B writes on loopback TCP`,
    receive: `reads of ${N_WRITES * 10 * 200 / 1e6} MB from loopback TCP`, https: `${N_REQS} keep-alive HTTPS POSTs of 2 KiB (node)` }[name];
  console.log(`  ${name.padEnd(7)} ${what}: off ${median(r.off).toFixed(3)} s; ` + COLUMNS.slice(1).map((c) => `${c} ${ratio(r[c], r.off).toFixed(2)}x`).join('; '));
}
console.log('in-kernel time of the capture programs during each loop (bpf_stats, summed over rounds):');
for (const name of Object.keys(loops)) {
  for (const c of COLUMNS.slice(1)) {
    const lines = format(kernel[name][c], '      ');
    console.log(`  ${name} / ${c}:${lines ? `\n${lines}` : ' no program ran'}`);
  }
}
console.log('captured by the tracked loops (egress + ingress bytes over the loop\'s time; the receive loop\'s ingress is not captured at the syscall level):');
for (const [key, c] of Object.entries(captured)) {
  console.log(`  ${key.padEnd(15)} ${c.records} records, ${((c.egress + c.ingress) / c.seconds / 1e6).toFixed(1)} MB/s captured ` +
    `(egress ${(c.egress / 1e6).toFixed(1)} MB, ingress ${(c.ingress / 1e6).toFixed(1)} MB), lost records ${c.lost}, ` +
    `cut per write/packet ${c.cutWrite} B, cut per connection ${c.cutConn} B, seen again (TCP) ${c.retrans} B`);
}
console.log(`  last round counters: ${JSON.stringify(last)}`);
