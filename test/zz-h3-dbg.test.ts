import { it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { BpftraceBackend } from '../sensor/backends/bpftrace.js';
it('dbg', async () => {
  const b = new BpftraceBackend({ traceAll: false, selfPid: process.pid });
  const evs: any[] = [];
  await b.start((e) => evs.push(...e));
  (b as any).proc.stdout.on('data', (c: Buffer) => console.log('RAW', c.length, c.toString().slice(0, 200)));
  b.setRule({ kind: 'comm', key: 'cat', agentId: 5, candidate: false });
  await b.settled();
  console.log('counters', JSON.stringify(b.counters()), b.lastMapError);
  execFileSync('cat', ['/etc/hostname']);
  await new Promise((r) => setTimeout(r, 3000));
  console.log('events', evs.length, JSON.stringify(evs.slice(0, 3)), JSON.stringify(b.counters()));
  await b.stop();
  console.log('after stop', evs.length);
}, 90000);
