#!/usr/bin/env node
// Cost of the containment programs (bpf/egress) on the connects and UDP sends
// of every process: they sit on the cgroup v2 root, so even a process that is
// not contained pays a map lookup per connect/sendmsg. Interleaved pairs,
// median ratio; a contained process limited to a grant pays the LPM lookup too.
// Not a test. Needs root, the built tree, and nothing contained at the time
// (it unloads the object between runs). Usage: node bench/egress.js
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
const CTL = join(ROOT, 'bpf/egress/.output/egress-ctl');
const PAIRS = Number(process.env.BENCH_PAIRS ?? 7);
const N = 200_000;
const ctl = (...a) => execFileSync(CTL, a, { encoding: 'utf8' });
const v2 = execFileSync('awk', ['$9 == "cgroup2" && $4 == "/" {print $5; exit}', '/proc/self/mountinfo'], { encoding: 'utf8' }).trim();

if (ctl('list').trim()) {
  console.error('egress bench: something is contained now; release it first');
  process.exit(1);
}
const dir = mkdtempSync(join(tmpdir(), 'egress-bench-'));
// N unconnected UDP sends to a loopback port: each runs the sendmsg4 program.
writeFileSync(join(dir, 'udp.c'), `
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int n = atoi(argv[1]);
  if (argc > 2) { char b[2]; if (read(0, b, 1) < 0) return 1; } /* wait until contained */
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(0x7f000001) };
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < n; i++) sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof a);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("%.1f\\n", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / n);
  return 0;
}`);
execFileSync('gcc', ['-O2', '-o', join(dir, 'udp'), join(dir, 'udp.c')]);
const runPlain = () => Number(execFileSync(join(dir, 'udp'), [String(N)], { encoding: 'utf8' }));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// A contained process limited to a grant covering the destination: sendmsg4 also does the LPM lookup.
function runGranted() {
  return new Promise((resolve, reject) => {
    const c = spawn(join(dir, 'udp'), [String(N), 'wait'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.once('exit', (code) => (code === 0 ? resolve(Number(out)) : reject(new Error(`udp exited ${code}`))));
    ctl('grant-set', String(c.pid), '00000000000000000000ffff7f000000', '104', '1-65535');
    ctl('add', String(c.pid), '3', String(c.pid), String(c.pid));
    c.stdin.end('g');
  }).finally(() => undefined);
}

const off = [], on = [], granted = [];
for (let i = 0; i < PAIRS; i++) {
  ctl('unload');
  off.push(runPlain());
  ctl('ensure', v2);
  on.push(runPlain());
  granted.push(await runGranted());
}
ctl('unload');
const m = { off: median(off), on: median(on), granted: median(granted) };
console.log(`UDP sendto to loopback, ns per call (median of ${PAIRS}): object unloaded ${m.off}, loaded and not contained ${m.on}` +
  ` (x${(m.on / m.off).toFixed(3)}), contained within its grants ${m.granted} (x${(m.granted / m.off).toFixed(3)})`);
