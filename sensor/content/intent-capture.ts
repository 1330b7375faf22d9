// Model turns from live capture, in the sensor: the plaintext chunks the
// content capture already has for agent processes (both directions over TLS,
// what agents send on plain sockets) go through the HTTP/model-API parsers
// (collector/intent) here, so the bytes never leave the host; only turn
// records travel to the store (turn-record.ts: names, call ids, subjects,
// digests of the arguments). A second source needs no TLS: the session files
// agents write under their user's home (Claude Code, Codex, Gemini CLI, Qwen
// Code), read as that user would (owner-checked, no symlinks followed).
//
// Plain sockets: at the socket level (cgroup_skb programs) both directions
// are captured and paired like TLS ones: the answer's tool calls come from
// the answer. At the syscall fallback the kernel captures what the agent
// sends only (plainIngress false), so a request is a turn as soon as it is
// whole, and the tool calls of the previous answer are those the request
// repeats before their results (OpenAI Chat); they arrive after the command
// ran, which the join allows for (a late call claims the exec it already saw).
import { lstatSync, readFileSync } from 'node:fs';
import { ContentStreams, type CapturedTurn } from '../../collector/intent/content-streams.js';
import { discoverTranscripts, TranscriptPoller } from '../../collector/intent/transcripts/transcript-sources.js';
import { turnRecordOf, type TurnRecord } from '../../collector/intent/turn-record.js';
import type { ModelTurn } from '../../collector/intent/turn.js';
import { UserHomes } from '../../collector/sensitive/user-homes.js';
import type { SensorEvent } from '../../proto/events/types.js';
import type { ContentRecord } from './content-record.js';

export interface IntentCaptureOptions {
  sensorId: string;
  report: (turns: TurnRecord[]) => void;
  log: (msg: string) => void;
  /** the agent's `keepContent` (agents.yaml): keep the turn's text in the store */
  keepContent?: (agent: string) => boolean;
  /** session files polled this often (0: not read) */
  transcriptEveryMs?: number;
  passwdFile?: string;
}

interface Proc { agent: string; agentPid: number; uid: number; cwd?: string; home?: string }
interface HomeState { uid: number; poller: TranscriptPoller; sinceMs: number }

const MAX_PROCS = 65_536;
const MAX_HOMES = 1024;

/**
 * The agent's $HOME (agents are often run with HOME elsewhere than passwd
 * says), taken only when it is an absolute path to a directory its user
 * owns, not a symlink: the sensor then reads there what that user could.
 * Nothing else of the environment is kept.
 */
function homeOf(pid: number, uid: number): string | undefined {
  let env: string;
  try {
    env = readFileSync(`/proc/${pid}/environ`, 'latin1');
  } catch {
    return undefined; // gone
  }
  const home = env.split('\0').find((v) => v.startsWith('HOME='))?.slice(5);
  if (!home || !home.startsWith('/') || home.length > 4096) return undefined;
  try {
    const st = lstatSync(home);
    return st.isDirectory() && st.uid === uid ? home : undefined;
  } catch {
    return undefined;
  }
}

export class IntentCapture {
  private readonly streams = new ContentStreams();
  private readonly procs = new Map<number, Proc>();
  /** homes whose session files are read: the agent's $HOME when its user owns it, else passwd's */
  private readonly homeStates = new Map<string, HomeState>();
  private readonly homes: UserHomes;
  private readonly timers: NodeJS.Timeout[] = [];
  readonly stats = { turns: 0, calls: 0, transcriptTurns: 0, transcriptErrors: 0 };
  /** answers on plain sockets are captured (EgressContent.plainIngress): their streams pair requests with answers */
  plainIngress = false;

  constructor(private readonly opts: IntentCaptureOptions) {
    this.homes = new UserHomes(opts.passwdFile);
    const expire = setInterval(() => this.emit(this.streams.expire(Date.now())), 30_000);
    expire.unref();
    this.timers.push(expire);
    const every = opts.transcriptEveryMs ?? 3000;
    if (every > 0) {
      const poll = setInterval(() => this.pollTranscripts(), every);
      poll.unref();
      this.timers.push(poll);
    }
  }

  /** The sensor's events: agent processes, their user and working directory. */
  observe(events: SensorEvent[]): void {
    for (const ev of events) {
      if (ev.type === 'exit') {
        const p = this.procs.get(ev.pid);
        // The agent's last session lines are written just before it exits: read them while it still counts as live.
        if (p?.home && p.agentPid === ev.pid) this.pollHome(p.home);
        if (this.procs.delete(ev.pid)) this.closeStreamsOf(ev.pid);
        continue;
      }
      if (ev.type !== 'exec' || !ev.agent || !ev.agentPid) continue;
      if (this.procs.size >= MAX_PROCS) this.procs.delete(this.procs.keys().next().value!);
      const cwd = ev.cwd !== undefined && typeof ev.cwd === 'string' ? ev.cwd : undefined;
      const root = this.procs.get(ev.agentPid);
      const home = root?.home ?? homeOf(ev.pid, ev.uid) ?? this.homes.homeOf(ev.uid);
      this.procs.set(ev.pid, { agent: ev.agent, agentPid: ev.agentPid, uid: ev.uid, ...(cwd ? { cwd } : {}), ...(home ? { home } : {}) });
      if (home && !this.homeStates.has(home) && this.homeStates.size < MAX_HOMES) {
        // From the first agent of this home on: older sessions are history, not this sensor's to report.
        this.homeStates.set(home, { uid: ev.uid, poller: new TranscriptPoller(ev.uid), sinceMs: Date.now() - 5000 });
      }
    }
  }

  /** A content record of an agent process (egress-content.ts hands each one over). */
  chunk(r: ContentRecord, agent: string, agentPid: number): void {
    if (r.kind !== 'data') return;
    const turns = this.streams.chunk({
      connKey: `${r.source}:${r.tgid}:${r.connId}`, direction: r.direction, tsMs: Date.now(), pid: r.tgid, agentPid, agent,
      streamOffset: r.streamOffset, data: r.data, missing: r.missing, budgetExhausted: r.budgetExhausted,
      ...(r.remote ? { remote: r.remote } : {}), requestOnly: r.source === 'socket' && !this.plainIngress,
    });
    this.emit(turns);
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.pollTranscripts();
    for (const pid of [...this.procs.keys()]) this.closeStreamsOf(pid);
  }

  private closeStreamsOf(pid: number): void {
    const out: CapturedTurn[] = [];
    // keys: `${source}:${tgid}:${connId}`
    for (const source of ['socket', 'tls']) out.push(...this.streams.closeWhere(`${source}:${pid}:`));
    this.emit(out);
  }

  private emit(captured: CapturedTurn[]): void {
    if (captured.length === 0) return;
    const records: TurnRecord[] = [];
    for (const c of captured) {
      const proc = this.procs.get(c.pid);
      const agent = c.agent ?? proc?.agent;
      const home = proc?.home;
      records.push(turnRecordOf(c.turn, {
        sensorId: this.opts.sensorId, tsMs: c.endMs, pid: c.pid, ...(agent ? { agent } : {}), ...(c.agentPid ? { agentPid: c.agentPid } : {}),
        ...(home ? { home } : {}), ...(proc?.cwd ? { cwd: proc.cwd } : {}), ...(c.remote ? { remote: c.remote } : {}),
      }, agent && this.opts.keepContent?.(agent) ? keptText(c.turn) : undefined));
    }
    this.send(records);
  }

  private pollTranscripts(): void {
    for (const home of this.homeStates.keys()) this.pollHome(home);
  }

  private pollHome(home: string): void {
    const u = this.homeStates.get(home);
    if (!u) return;
    const live = [...this.procs.values()].filter((p) => p.home === home && p.uid === u.uid);
    if (live.length === 0) return;
    let res;
    try {
      res = u.poller.poll(discoverTranscripts(home, u.uid));
    } catch (err) {
      this.stats.transcriptErrors++;
      this.opts.log(`intent: session files under ${JSON.stringify(home)} not read: ${(err as Error).message}`);
      return;
    }
    this.stats.transcriptErrors += res.errors.length;
    // One agent instance in this home: the turns are its. Several: the agent is not known, the join matches any.
    const instances = new Map(live.map((p) => [p.agentPid, p]));
    const only = instances.size === 1 ? [...instances.values()][0] : undefined;
    const records: TurnRecord[] = [];
    for (const t of res.turns) {
      const tsMs = t.ts ? Date.parse(t.ts) : Date.now();
      if (!(tsMs >= u.sinceMs)) continue;
      records.push(turnRecordOf(t, {
        sensorId: this.opts.sensorId, tsMs, home,
        ...(only ? { agent: only.agent, agentPid: only.agentPid, ...(only.cwd ? { cwd: only.cwd } : {}) } : {}),
      }, only && this.opts.keepContent?.(only.agent) ? keptText(t) : undefined));
    }
    this.stats.transcriptTurns += records.length;
    this.send(records);
  }

  private send(records: TurnRecord[]): void {
    if (records.length === 0) return;
    this.stats.turns += records.length;
    for (const r of records) this.stats.calls += r.calls.length;
    try {
      this.opts.report(records);
    } catch (err) {
      this.opts.log(`intent: turns not reported: ${(err as Error).message}`);
    }
  }
}

/** keepContent: what the turn carried as text (tool calls with their arguments, tool results), bounded by turnRecordOf. */
function keptText(t: ModelTurn): string {
  return JSON.stringify({
    toolCalls: t.toolCalls.map((c) => ({ id: c.id, name: c.name, arguments: c.arguments })),
    toolResults: t.toolResults.map((r) => ({ callId: r.callId, name: r.name, content: r.content })),
  });
}
