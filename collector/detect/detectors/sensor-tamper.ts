// The monitor tampered with: an agent writing, deleting or renaming the
// sensor's own files (its store, its configuration, its unit, its program),
// BPF pins or the kernel's tracing controls, or stopping it through its
// command line (`systemctl stop agent-sensor`, `pkill -f agent-sensor`,
// `bpftool … detach`). The collector adds its own state directory to the
// protected paths (store-worker.ts), wherever `--state-dir` put it.
import { z } from 'zod';
import { compileGlob, type CompiledGlob } from '../../sensitive/glob.js';
import { defineDetector, type JudgedEvent } from '../detector.js';
import { basename } from './credential-use.js';

const DEFAULT_PROTECTED = [
  '/var/lib/agent-sensor/**', '/etc/agent-sensor/**', '/run/agent-sensor/**', '/opt/agent-sensor/**',
  '/usr/{lib,share}/agent-sensor/**', '/usr/{,local/}lib/node_modules/agent-sensor/**',
  '/{etc,usr/lib,lib}/systemd/system/agent-sensor*', '/{etc,usr/lib,lib}/systemd/system/agent-sensor*/**',
  '/sys/fs/bpf/**', '/sys/kernel/tracing/**', '/sys/kernel/debug/tracing/**',
];

const STOP_VERBS = /^(?:stop|disable|mask|kill|reset-failed|revert|edit|set-property)$/;
const NAMES_SENSOR = /agent-sensor|\bsensor\.js\b|(?:^|\/)sensor(?:\s|$)/;

/** Why this command line stops or unhooks the sensor, or undefined. */
function stopsSensor(exe: string, argv: string[]): string | undefined {
  const name = basename(exe);
  const args = argv.slice(1);
  const line = args.join(' ');
  if ((name === 'systemctl' || name === 'service') && args.some((a) => STOP_VERBS.test(a)) && /agent-sensor/.test(line)) return 'stops its service';
  if ((name === 'pkill' || name === 'killall') && NAMES_SENSOR.test(line)) return 'kills it by name';
  if (name === 'bpftool' && /\b(?:detach|unpin)\b/.test(line)) return 'detaches BPF programs';
  return undefined;
}

const globCache = new Map<string, CompiledGlob[]>();
function globsFor(paths: string[]): CompiledGlob[] {
  const key = paths.join('\0');
  let g = globCache.get(key);
  if (!g) {
    g = paths.map((p) => compileGlob(p));
    if (globCache.size > 64) globCache.clear();
    globCache.set(key, g);
  }
  return g;
}

/** The paths this event changes: an open for writing, an unlink, either side of a rename, a link's new name. */
function changed(ev: JudgedEvent): { path: string; how: string }[] {
  const e = ev.event;
  const f = ev.features;
  if (e.type === 'open' && f.file?.op === 'write' && f.file.ok) return [{ path: f.file.path, how: 'opened for writing' }];
  if (e.type === 'unlink' && f.file?.ok) return [{ path: f.file.path, how: 'deleted' }];
  if (e.type === 'rename' && f.file2?.ok) return [{ path: f.file!.path, how: 'renamed away' }, { path: f.file2.path, how: 'renamed a file onto' }];
  if (e.type === 'link' && f.file2?.ok) return [{ path: f.file2.path, how: 'made a link at' }];
  return [];
}

const globString = z.string().refine((g) => {
  try {
    compileGlob(g);
    return g.startsWith('/');
  } catch {
    return false;
  }
}, 'must be an absolute path glob');

export default defineDetector({
  meta: {
    id: 'sensor_tamper',
    title: 'Monitor tampered with',
    description: "The sensor's own files (store, config, unit, program), BPF pins or tracing controls written, deleted or renamed; the sensor stopped or unhooked by command line.",
    severity: 'critical',
    attack: ['T1562.001', 'T1070'],
    falsePositives: 'An administrator\'s agent asked to upgrade or reconfigure the sensor.',
    phase: 'always',
    params: z.object({
      /** the protected paths (globs) */
      paths: z.array(globString).default(DEFAULT_PROTECTED),
      addPaths: z.array(globString).default([]),
      /** set by the collector: its own state directory */
      statePaths: z.array(globString).default([]),
    }).strict(),
  },
  newState: () => null,
  onEvent(ev, { agent, params }) {
    const proc = ev.features.proc;
    const who = proc ? `${basename(proc.exe)} (${proc.argv.join(' ').slice(0, 160)})` : `pid ${ev.event.pid}`;
    if (ev.event.type === 'exec' && proc) {
      const why = stopsSensor(proc.exe, proc.argv);
      if (!why) return undefined;
      return [{ subject: `argv:${proc.argv.slice(0, 4).join(' ')}`, summary: `${agent.name} ran ${proc.argv.join(' ').slice(0, 200)}: ${why} [T1562.001]`, evidence: [ev.id] }];
    }
    const globs = globsFor([...params.paths, ...params.addPaths, ...params.statePaths]);
    for (const c of changed(ev)) {
      if (!globs.some((g) => g.matches(c.path))) continue;
      return [{ subject: c.path, summary: `${agent.name} ${c.how} ${c.path}: the sensor's own files or the kernel's tracing [T1562.001], by ${who}`, evidence: [ev.id] }];
    }
    return undefined;
  },
});
