#!/usr/bin/env node
// Store-only ingest loop (profiling aid for bench/e2e.js): synthetic open
// events shaped like the kernel's, committed through EventStore.commitBatch
// in batches, or through the collector's decode path when STAGE=server.
//   node --cpu-prof bench/store-ingest.js [events] [batch]
// SYNC=NORMAL|FULL (default FULL, the store's default): what an fsync per
// committed batch costs (issue 9 item 7: acks only what is on disk).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventStore } from '../dist/collector/store/event-store.js';

const N = Number(process.argv[2] ?? 200_000);
const BATCH = Number(process.argv[3] ?? 2000);

export function syntheticOpen(i, tsNs) {
  return {
    type: 'open', ts: '', tsNs: String(tsNs), pid: 4242, tid: 4242, ppid: 1, uid: 0, gid: 0,
    comm: 'as-bench-agent', agent: 'bench', cgroupId: '8123', netns: 4026531840, mntns: 4026531841,
    path: `/tmp/agent-sensor-bench-x/data${i % 16}.txt`, flags: 0o100000, mode: 0, access: 'read', result: 3,
    syscall: 'openat',
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = mkdtempSync(join(tmpdir(), 'as-store-ingest-'));
  const synchronous = process.env.SYNC === 'NORMAL' ? 'NORMAL' : 'FULL';
  const store = EventStore.open({ stateDir: dir, hashing: { enabled: process.env.HASHING === '1' }, synchronous });
  const base = BigInt(Date.now()) * 1_000_000n;
  const batches = [];
  for (let b = 0; b < N / BATCH; b++) {
    const events = [];
    for (let i = 0; i < BATCH; i++) events.push(syntheticOpen(i, base + BigInt(b * BATCH + i)));
    batches.push(events);
  }
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let seq = 0n;
  for (const events of batches) store.commitBatch({ sensorId: 's1', bootId: 'b1', seq: ++seq, events });
  await store.hashIdle();
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const st = store.status();
  console.log(`store ingest (synchronous=${synchronous}): ${Math.round(N / secs)} events/s (${N} in ${secs.toFixed(2)} s, batch ${BATCH}), ${((cpu.user + cpu.system) / N).toFixed(2)} us CPU/event; ${(st.dbBytes / N).toFixed(1)} B/event before checkpoint`);
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
