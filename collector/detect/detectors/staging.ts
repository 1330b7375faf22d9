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
  // An archiver opens its output first and then reads (tar cf out.tar dir): the rule fires at whichever
  // comes last, the archive's open or the read that brings the window to minFiles.
  newState: () => ({ reads: [] as { ts: bigint; path: string; id: bigint }[], archives: [] as { ts: bigint; path: string; id: bigint; tool: string }[], fired: new Set<string>() }),
  onEvent(ev, { agent, state, params }) {
    const f = ev.features.file;
    if (!f || ev.event.type !== 'open' || !f.ok) return;
    const w = toNs(params.window);
    if (f.op === 'read') {
      if (f.path.startsWith('/proc/') || f.path.startsWith('/sys/') || f.path.startsWith('/dev/')) return;
      expire(state.reads, ev.tsNs, w);
      state.reads.push({ ts: ev.tsNs, path: f.path, id: ev.id });
      if (state.reads.length > 4096) state.reads.shift();
    } else {
      const proc = ev.features.proc;
      if (!proc || !ARCHIVERS.test(basename(proc.exe)) || !f.path.startsWith('/') || f.path.startsWith('/dev/')) return;
      state.archives.push({ ts: ev.tsNs, path: f.path, id: ev.id, tool: basename(proc.exe) });
    }
    expire(state.archives, ev.tsNs, w);
    expire(state.reads, ev.tsNs, w);
    if (state.archives.length === 0) return;
    const distinct = new Set(state.reads.map((r) => r.path));
    if (distinct.size < params.minFiles) return;
    const out = [];
    for (const a of state.archives) {
      if (state.fired.has(a.path)) continue;
      state.fired.add(a.path);
      out.push({
        subject: a.path,
        summary: `${a.tool} wrote ${a.path} with ${distinct.size} distinct files read by ${agent.name} within ${params.window}`,
        evidence: [...state.reads.slice(-16).map((r) => r.id), a.id].sort((x, y) => (x < y ? -1 : 1)),
      });
    }
    if (state.fired.size > 256) state.fired.clear();
    return out;
  },
});
