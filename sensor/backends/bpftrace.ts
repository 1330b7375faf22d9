// The bpftrace backend: the fallback for hosts where the native addon cannot
// load. It runs one bpftrace process with a generated script (./bpftrace/
// script.ts), reads its JSON output line by line (./bpftrace/lines.ts) and
// builds the same events the libbpf backend yields (./bpftrace/records.ts).
// Rules and tracked pids are written into the running script's maps with
// bpftool (./bpftrace/maps.ts), so filtering stays in the kernel.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { execa, type ResultPromise } from 'execa';
import type { Backend, BackendCounters, BackendOptions, DecideResult, KernelEvent, KernelRule } from './backend.js';
import { LineSplitter, parseMessage } from './bpftrace/lines.js';
import { BpftraceMaps, KEY_WIDTH, stringKey, u64Key, type MapUpdate } from './bpftrace/maps.js';
import { monotonicToEpochOffset } from '../kernel/clock.js';
import { CwdResolver } from './bpftrace/cwd.js';
import { RecordDecoder } from './bpftrace/records.js';
import { COMM_LEN, STRLEN, generateScript, literalSafe, trackValue } from './bpftrace/script.js';

export interface BpftraceTuning {
  /** bpftrace binary */
  bpftrace?: string;
  bpftool?: string;
  /** how long compiling and attaching may take (a 2-core host needs ~10 s) */
  attachTimeoutMs?: number;
  stopTimeoutMs?: number;
}

const TRACEFS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];
const DEFAULT_PAGES_PER_CPU = 1024;
const NOTIFY = '__BPFTRACE_NOTIFY_PROBES_ATTACHED';
const NOTIFY_GRACE_MS = 3000;

/** What this backend does not see that the libbpf one does (for `unavailable()` and the README). */
export const BPFTRACE_UNAVAILABLE = [
  'dns over writev, sendmmsg messages after the second, and DNS payloads over 192 bytes',
  'unix datagram destinations, and datagram destinations of sendmmsg messages after the first',
  'in-kernel directory resolution: relative paths are resolved from /proc/<pid>/cwd or fd at read time (racy)',
  `paths and exec filenames longer than ${STRLEN - 1} bytes (cut, marked truncated)`,
  'lost events by type (bpftrace reports only a total, and only once the CPU that lost them delivers again)',
];

export class BpftraceBackend implements Backend {
  readonly name = 'bpftrace' as const;
  private proc: ResultPromise | null = null;
  private bpftracePid = 0;
  private readonly rules = new Map<string, KernelRule>();
  private readonly tracked = new Map<number, number>();
  private readonly maps: BpftraceMaps;
  private queue: MapUpdate[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private flushScheduled = false;
  private decoder: RecordDecoder | null = null;
  private onEvents: ((events: KernelEvent[]) => void) | null = null;
  /** cwds of processes tracked before start, handed to the decoder */
  private readonly early = new CwdResolver();
  private staleTimer: NodeJS.Timeout | null = null;
  private readonly ownHelpers = new Set<number>();
  private stderrTail = '';
  /** bpftool's message for the last failed map update (diagnostics) */
  lastMapError: string | null = null;
  private readonly count = { delivered: 0, lost: 0, mapUpdateFailed: 0, malformedLines: 0, unmatchableRules: 0, bpftraceDied: 0 };
  private stopping = false;

  constructor(private readonly options: BackendOptions, private readonly tuning: BpftraceTuning = {}) {
    this.maps = new BpftraceMaps(tuning.bpftool ?? 'bpftool', (pid) => {
      this.ownHelpers.add(pid);
      setTimeout(() => this.ownHelpers.delete(pid), 10_000).unref();
    });
  }

  async start(onEvents: (events: KernelEvent[]) => void): Promise<void> {
    if (this.proc) throw new Error('bpftrace backend already started');
    this.onEvents = onEvents;
    const tracefs = TRACEFS.find((p) => existsSync(`${p}/events/syscalls`));
    if (!tracefs) throw new Error('tracefs with syscall tracepoints not found (mount -t tracefs nodev /sys/kernel/tracing)');
    const syscalls = new Set(readdirSync(`${tracefs}/events/syscalls`));
    const exitFormat = readFileSync(`${tracefs}/events/sched/sched_process_exit/format`, 'latin1');
    const script = generateScript({
      traceAll: this.options.traceAll,
      selfPid: this.options.selfPid,
      rules: [...this.rules.values()],
      tracked: new Map(this.tracked),
      exitHasGroupDead: exitFormat.includes('group_dead'),
      syscalls,
    });
    // Rules whose keys bpftrace cannot take as literals go through bpftool.
    const late = this.queue;
    this.queue = [];

    const decoder = new RecordDecoder(monotonicToEpochOffset(), Date.now, this.early);
    this.decoder = decoder;
    const proc = execa(this.tuning.bpftrace ?? 'bpftrace', ['--no-warnings', '-f', 'json', '-e', script], {
      env: {
        BPFTRACE_STRLEN: String(STRLEN),
        BPFTRACE_MAP_KEYS_MAX: '65536',
        BPFTRACE_PERF_RB_PAGES: String(perfPages(this.options.ringBytes)),
        [NOTIFY]: '1',
      },
      stdin: 'ignore',
      buffer: false,
      reject: false,
    });
    this.proc = proc;
    this.bpftracePid = proc.pid ?? 0;

    // Readiness: bpftrace prints "attached_probes" before it has created
    // every map and attached every program. Its test hook
    // __BPFTRACE_NOTIFY_PROBES_ATTACHED (an environment variable that makes
    // it print that name on stderr) comes after; a bpftrace without the
    // hook gets NOTIFY_GRACE_MS after "attached_probes" instead.
    const attached = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`bpftrace did not attach within ${this.attachTimeoutMs()} ms${this.stderrHint()}`)),
        this.attachTimeoutMs());
      const ready = () => {
        clearTimeout(timer);
        resolve();
      };
      const splitter = new LineSplitter();
      proc.stdout!.on('data', (chunk: Buffer) => {
        const out: KernelEvent[] = [];
        for (const line of splitter.push(chunk)) {
          const msg = parseMessage(line);
          switch (msg.kind) {
            case 'printf': decoder.push(msg.data, out); break;
            case 'attached': setTimeout(ready, NOTIFY_GRACE_MS).unref(); break;
            case 'lost': this.count.lost += msg.events; break;
            case 'malformed': this.count.malformedLines++; break;
            default: break;
          }
        }
        this.deliver(out, onEvents);
      });
      proc.stderr!.on('data', (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        if (text.includes(NOTIFY)) ready();
        this.stderrTail = (this.stderrTail + text.replace(NOTIFY, '')).slice(-4000);
        for (const m of text.matchAll(/Lost (\d+) events/g)) this.count.lost += Number(m[1]);
      });
      void proc.then((r) => {
        clearTimeout(timer);
        // after start, an exit we did not ask for means no more events: say so in the counters
        if (!this.stopping) this.count.bpftraceDied = 1;
        const code = (r as { code?: string }).code;
        if (code === 'ENOENT') reject(new Error(`${this.tuning.bpftrace ?? 'bpftrace'} not found: install bpftrace (Debian: apt-get install bpftrace)`));
        else if (code === 'EACCES') reject(new Error(`${this.tuning.bpftrace ?? 'bpftrace'} is not executable`));
        else reject(new Error(`bpftrace exited (${r.signal ?? `code ${r.exitCode}`}) before attaching${this.stderrHint()}`));
      });
    });
    try {
      await attached;
      await this.maps.locate(this.bpftracePid);
      if (late.length > 0) await this.maps.apply(late);
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.staleTimer = setInterval(() => {
      const out: KernelEvent[] = [];
      decoder.flushStale(out);
      this.deliver(out, onEvents);
    }, 1000);
    this.staleTimer.unref();
  }

  setRule(rule: KernelRule): void {
    const key = ruleKey(rule);
    if (!key) {
      this.count.unmatchableRules++;
      return;
    }
    this.rules.set(`${rule.kind}:${String(rule.key)}`, { ...rule, key: rule.kind === 'cgroup' ? rule.key : key.text });
    // before start, rules that bpftrace can take literally go into BEGIN
    this.update({ map: key.map, key: key.key, value: trackValue(rule.agentId, rule.candidate) }, !key.literal);
  }

  track(pid: number, agentId: number, candidate = false): void {
    const value = trackValue(agentId, candidate);
    this.tracked.set(pid, value);
    (this.decoder?.cwd ?? this.early).prime(pid); // while it runs, for its relative paths later
    this.update({ map: 'tr', key: u64Key(pid), value }, false);
  }

  /**
   * bpftrace's map holds no start time nor root: the decision is written
   * when the process still exists, which narrows (does not close) the
   * window in which a reused pid could be tracked.
   */
  decide(pid: number, _startNs: bigint | null, _expectAgentPid: number, agentId: number): DecideResult {
    if (!existsSync(`/proc/${pid}`)) return 'gone';
    if (agentId === 0) this.untrack(pid);
    else this.track(pid, agentId, false);
    return 'ok';
  }

  untrack(pid: number): void {
    this.tracked.delete(pid);
    // 0 reads as untracked; the entry itself goes when the process exits
    this.update({ map: 'tr', key: u64Key(pid), value: 0 }, false);
  }

  counters(): BackendCounters {
    const s = this.decoder?.stats;
    return {
      delivered: this.count.delivered,
      lost: this.count.lost,
      lostByType: {},
      truncated: s?.truncated ?? 0,
      other: {
        parseErrors: (s?.parseErrors ?? 0) + this.count.malformedLines,
        partsMissing: s?.partsMissing ?? 0,
        orphanParts: s?.orphanParts ?? 0,
        unresolvedPaths: s?.unresolvedPaths ?? 0,
        dnsUnparsed: s?.dnsUnparsed ?? 0,
        mapUpdateFailed: this.count.mapUpdateFailed,
        unmatchableRules: this.count.unmatchableRules,
        /** 1 when bpftrace exited on its own: no events flow until restart */
        bpftraceDied: this.count.bpftraceDied,
      },
    };
  }

  unavailable(): string[] {
    return [...BPFTRACE_UNAVAILABLE];
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.stopping = true;
    if (this.staleTimer) clearInterval(this.staleTimer);
    this.staleTimer = null;
    await this.flushing.catch(() => undefined);
    // SIGINT lets bpftrace run END (which clears maps instead of printing
    // them) and detach. Detaching ~90 tracepoint programs takes seconds
    // (about 4.6 s on a 2-core host), hence the generous limit.
    proc.kill('SIGINT');
    const limit = this.tuning.stopTimeoutMs ?? 15_000;
    const done = await Promise.race([proc.then(() => true), sleep(limit).then(() => false)]);
    if (!done) {
      proc.kill('SIGKILL');
      await Promise.race([proc, sleep(limit)]);
    }
    this.proc = null;
    this.stopping = false;
    // records still waiting for a part go out marked truncated rather than vanish
    if (this.decoder && this.onEvents) {
      const out: KernelEvent[] = [];
      this.decoder.flushStale(out, true);
      this.deliver(out, this.onEvents);
    }
  }

  /** Settles once every queued map update has been applied (tests, and the Sensor after a start-up scan). */
  async settled(): Promise<void> {
    if (!this.proc) return; // before start, updates wait for start()
    while (this.flushScheduled || this.queue.length > 0) {
      await sleep(1);
      await this.flushing;
    }
    await this.flushing;
  }

  private update(u: MapUpdate, needsBpftool: boolean): void {
    if (!this.proc) {
      if (needsBpftool) this.queue.push(u); // applied right after attach
      return;
    }
    this.queue.push(u);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const batch = this.queue;
      this.queue = [];
      this.flushing = this.flushing.then(async () => {
        try {
          await this.maps.apply(batch);
        } catch (err) {
          this.count.mapUpdateFailed += batch.length;
          this.lastMapError = (err as Error).message;
        }
      });
    });
  }

  private deliver(out: KernelEvent[], onEvents: (events: KernelEvent[]) => void): void {
    // bpftrace itself and our bpftool helpers are not agents (seen in --all mode)
    const events = out.filter((e) => e.pid !== this.bpftracePid && !this.ownHelpers.has(e.pid));
    if (events.length === 0) return;
    this.count.delivered += events.length;
    onEvents(events);
  }

  private attachTimeoutMs(): number {
    return this.tuning.attachTimeoutMs ?? 60_000;
  }

  private stderrHint(): string {
    const text = this.stderrTail
      .split('\n')
      .filter((l) => l.trim() && !l.includes('RLIMIT_MEMLOCK')) // bpftrace 0.17 warns about this needlessly on modern kernels
      .join('\n')
      .trim();
    return text ? `: ${text}` : '';
  }
}

/** The map and key a rule goes into, or null when the kernel could never match it. */
function ruleKey(rule: KernelRule): { map: MapUpdate['map']; key: Buffer; text: string; literal: boolean } | null {
  if (rule.kind === 'cgroup') return { map: 'rg', key: u64Key(BigInt(rule.key)), text: String(rule.key), literal: true };
  const text = String(rule.key);
  // the kernel's comm is at most 15 bytes: a longer name matches its prefix
  const s = rule.kind === 'comm' ? Buffer.from(text, 'utf8').subarray(0, COMM_LEN - 1).toString('utf8') : text;
  const key = stringKey(s, KEY_WIDTH[rule.kind === 'comm' ? 'rc' : 'rx']);
  if (!key) return null; // an exe path longer than str() can read
  return { map: rule.kind === 'comm' ? 'rc' : 'rx', key, text: s, literal: literalSafe(s) };
}

function perfPages(ringBytes: number | undefined): number {
  if (!ringBytes) return DEFAULT_PAGES_PER_CPU;
  const perCpu = Math.max(4096 * 8, Math.floor(ringBytes / Math.max(1, cpus().length)));
  return 2 ** Math.floor(Math.log2(perCpu / 4096));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
