// Staging: a mass read followed by an archiver or an encryptor (tar, zip,
// gzip, 7z, openssl, gpg, ...) of the instance writing a file: data
// collected into one archive before it leaves.
import { z } from 'zod';
import { defineDetector } from '../detector.js';
import { basename, expire, toNs, windowParam } from './credential-use.js';

const ARCHIVERS = /^(?:tar|bsdtar|zip|7z|7za|7zr|gzip|pigz|bzip2|xz|zstd|rar|openssl|gpg|gpg2|age|cpio|ar)$/;

export default defineDetector({
  meta: {
    id: 'staging',
    title: 'Data staged into an archive',
    description: 'Many distinct files read within the window, then an archiver or encryptor of the instance writes a file.',
    severity: 'high',
    attack: ['T1560.001', 'T1074.001', 'T1119'],
    falsePositives: 'Building a release tarball; a backup the user asked for.',
    phase: 'always',
    params: z.object({ window: windowParam('5m'), minFiles: z.number().int().positive().default(20) }).strict(),
  },
  newState: () => ({ reads: [] as { ts: bigint; path: string; id: bigint }[], distinct: new Map<string, bigint>() }),
  onEvent(ev, { agent, state, params }) {
    const f = ev.features.file;
    if (!f || ev.event.type !== 'open' || !f.ok) return;
    const w = toNs(params.window);
    if (f.op === 'read') {
      if (f.path.startsWith('/proc/') || f.path.startsWith('/sys/') || f.path.startsWith('/dev/')) return;
      expire(state.reads, ev.tsNs, w);
      state.reads.push({ ts: ev.tsNs, path: f.path, id: ev.id });
      if (state.reads.length > 4096) state.reads.shift();
      return;
    }
    const proc = ev.features.proc;
    if (!proc || !ARCHIVERS.test(basename(proc.exe)) || !f.path.startsWith('/') || f.path.startsWith('/dev/')) return;
    expire(state.reads, ev.tsNs, w);
    const distinct = new Set(state.reads.map((r) => r.path));
    if (distinct.size < params.minFiles) return;
    return [{
      subject: f.path,
      summary: `${basename(proc.exe)} wrote ${f.path} after ${agent.name} read ${distinct.size} distinct files within ${params.window}`,
      evidence: [...state.reads.slice(-16).map((r) => r.id), ev.id],
    }];
  },
});
