// Copies of files an agent wrote or ran, for the evidence bundle, read with
// the rights of the process that named them: a child running as that
// process's uid and gid (no supplementary groups: fewer rights, never more)
// opens the file, so the root-run sensor never reads what the agent could not.
import { spawnSync } from 'node:child_process';

export type CopyResult = { ok: true; data: Buffer } | { ok: false; reason: string };

// test -f refuses FIFOs and devices (a FIFO would block); the timeout covers
// a file swapped for a FIFO between the test and the read.
const READER = 'test -f "$1" || { echo "not a regular file" >&2; exit 3; }; exec head -c "$2" -- "$1"';
const TIMEOUT_MS = 5000;

export function copyAs(path: string, uid: number, gid: number, maxBytes: number): CopyResult {
  if (!path.startsWith('/')) return { ok: false, reason: 'not an absolute path' };
  const r = spawnSync('/bin/sh', ['-c', READER, 'sensor-collect', path, String(maxBytes + 1)], {
    uid, gid, timeout: TIMEOUT_MS, maxBuffer: maxBytes + 2, stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.error) return { ok: false, reason: (r.error as Error).message };
  if (r.status !== 0) {
    const why = r.stderr.toString('utf8').trim().split('\n').pop() ?? '';
    return { ok: false, reason: r.status === 3 ? 'not a regular file (now)' : `not readable as uid ${uid} gid ${gid}${why ? `: ${why.replace(/^head: /, '')}` : ''}` };
  }
  if (r.stdout.length > maxBytes) return { ok: false, reason: `larger than ${maxBytes} bytes` };
  return { ok: true, data: r.stdout };
}
