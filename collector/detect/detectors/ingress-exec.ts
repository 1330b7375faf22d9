// Ingress tool transfer and execution: exec of a file the instance wrote
// (itself, or curl/wget for it) moments before. From /tmp, /dev/shm or a
// home, or written by a downloader: critical; elsewhere (a build output in
// the project): the configured severity only when the writer was a
// downloader, silence otherwise (compilers write what is then run).
import { z } from 'zod';
import { defineDetector } from '../detector.js';
import { basename, expire, toNs, windowParam } from './credential-use.js';

const DOWNLOADERS = /^(?:curl|wget|wget2|aria2c|fetch|scp|sftp|rsync|ftp|tftp|nc|ncat|socat)$/;

interface Written { ts: bigint; id: bigint; writer: string }

export default defineDetector({
  meta: {
    id: 'ingress_exec',
    title: 'Downloaded or dropped file executed',
    description: 'The instance executes a file it (or curl/wget) wrote within the window, especially in /tmp, /dev/shm or a home.',
    severity: 'high',
    attack: ['T1105', 'T1204.002', 'T1059'],
    falsePositives: 'Installing a tool by downloading its release binary; running a freshly built program from /tmp.',
    phase: 'always',
    params: z.object({
      window: windowParam('10m'),
      /** written here: critical */
      hotDirs: z.array(z.string()).default(['/tmp/', '/var/tmp/', '/dev/shm/', '/run/user/']),
    }).strict(),
  },
  newState: () => ({ written: new Map<string, Written>(), order: [] as { ts: bigint; path: string }[] }),
  onEvent(ev, { agent, state, params }) {
    const w = toNs(params.window);
    const note = (path: string) => {
      const writer = ev.features.proc ? basename(ev.features.proc.exe) : '';
      state.written.set(path, { ts: ev.tsNs, id: ev.id, writer });
      state.order.push({ ts: ev.tsNs, path });
      expire(state.order, ev.tsNs, w);
      if (state.written.size > 4096) state.written.delete(state.written.keys().next().value!);
    };
    const f = ev.features.file;
    if (f && f.ok && f.op === 'write' && ev.event.type === 'open') note(f.path);
    if (ev.features.file2?.ok && (ev.event.type === 'rename' || ev.event.type === 'link')) note(ev.features.file2.path);
    const x = ev.features.exec;
    if (!x) return;
    const hit = state.written.get(x.filename) ?? state.written.get(x.path);
    const path = state.written.has(x.filename) ? x.filename : x.path;
    if (!hit || ev.tsNs - hit.ts > w) return;
    const home = ev.instance.home;
    const hot = params.hotDirs.some((d) => path.startsWith(d)) || (home !== null && path.startsWith(`${home}/`) && !(ev.instance.cwd && path.startsWith(`${ev.instance.cwd}/`)));
    const downloaded = DOWNLOADERS.test(hit.writer);
    if (!hot && !downloaded) return;
    return [{
      severity: hot || downloaded ? 'critical' : undefined,
      subject: path,
      summary: `${agent.name} executed ${path}, written ${Number((ev.tsNs - hit.ts) / 1_000_000n)} ms before by ${hit.writer || 'the instance'}${hot ? ' in a temporary or home directory' : ''}`,
      evidence: [hit.id, ev.id],
    }];
  },
});
