// The judging engine. Fed committed batches (the store's commit hook), it
// works off the ingest path: batches wait in a queue drained in slices
// between commits, in commit order, so the events of each sensor are judged
// in the order they were sent. Per event: the instance it belongs to, its
// generalised features (once, for every detector), learning while the agent's
// baseline learns, then each enabled detector. Alerts are deduplicated (one
// per instance, rule and subject within the window; repeats are counted and
// flushed every second), appended to the alert chain, and logged.
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { displayString } from '../../proto/events/bytes.js';
import type { SensorEvent } from '../../proto/events/types.js';
import { AlertChainWriter } from '../store/alert-chain.js';
import type { CommittedBatch } from '../store/event-store.js';
import {
  baselineDigest, createDetectSchema, InstanceWriter, markRequestApplied, pendingRequests, readBaselines, readInstances, writeBaseline,
  type BaselineRequest,
} from '../store/detect-rows.js';
import { Baseline, type BaselineJson } from './baseline.js';
import type { AgentView, AlertDraft, CatalogueView, EventFeatures, Instance, JudgedEvent, ProcInfo, Severity } from './detector.js';
import type { ContentResult } from '../store/file-rows.js';
import { builtInClasses } from '../sensitive/catalogue.js';
import { DETECTORS } from './detectors/index.js';
import { egressSubject, egressSummary, SECRET_EGRESS_RULE, type EgressFinding } from './egress-finding.js';
import { UNEXPLAINED_ACTION, unexplainedActionDraft } from './unexplained-action.js';
import type { UnexplainedAction } from '../intent/intent-service.js';
import { count, spanText } from './duration.js';
import { areaOf, destinationOf, generalisePath, type PathContext } from './generalise.js';
import { GrantSet } from './grants.js';
import { Homes } from './homes.js';
import { agentHomes } from '../sensitive/agent-home.js';
import { InstanceTracker, type LiveInstance } from './instances.js';
import { MinuteRates, type MinuteCounts } from './minute-rates.js';
import { OwnOutput } from './own-output.js';
import { resolveSettings, type AgentSettings, type DetectionOptions } from './settings.js';

export interface EngineCounters {
  batches: number;
  events: number;
  judged: number;
  alerts: number;
  repeats: number;
  skippedEvents: number;
  queued: number;
  /** events or detector calls that threw (logged, then skipped) */
  errors: number;
  /** file contents (the hasher's feed) judged */
  contents: number;
  /** contents dropped: the content queue was full */
  skippedContent: number;
}

interface AgentRuntime extends AgentView {
  settings: AgentSettings;
  baseline: Baseline;
  learnFrom: number;
  detectFrom: number | null;
  endedBy: string | null;
  savedAt: number;
}

interface Pending {
  alertId: number;
  firstNs: bigint;
  lastNs: bigint;
  repeats: number;
  inst: Instance;
}

// The queue is bounded: detectors that fall this far behind skip batches (counted, logged) rather than exhaust memory.
const MAX_QUEUED_EVENTS = 500_000;
// Events judged per slice before the thread turns to the next commit.
const SLICE_EVENTS = 4096;
const REPEAT_FLUSH_MS = 1000;
const INSTANCE_IDLE_MS = 30 * 60_000;
const FEATURE_CACHE_MAX = 50_000;
const STATS_EVERY_MS = 60_000;
const RECENT_OPENS_MAX = 20_000; // twice the hash queue's default bound
const PROCS_MAX = 100_000;
const CONTENT_QUEUE_MAX = 20_000;

const bs = (v: unknown): string => (v === undefined || v === null ? '' : typeof v === 'string' ? v : displayString(v as { b64: string }));

export class DetectionEngine {
  private readonly agents = new Map<string, AgentRuntime>();
  private readonly tracker = new InstanceTracker();
  private readonly homes: Homes;
  private readonly chain: AlertChainWriter;
  private readonly instanceRows: InstanceWriter;
  private readonly pending = new Map<string, Pending>();
  private readonly areaCache = new Map<string, string>();
  private queue: CommittedBatch[] = [];
  private contentQueue: { c: ContentResult; tries: number }[] = [];
  /** recent successful opens of agents, by event id: what the content feed attaches to */
  private readonly recentOpens = new Map<bigint, { judged: JudgedEvent; sensorId: string }>();
  private readonly procs = new Map<string, ProcInfo>();
  private readonly catalogue: CatalogueView;
  private queueHead = { batch: 0, event: 0 };
  private queuedEvents = 0;
  private scheduled = false;
  private closed = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private lastSkipLog = 0;
  private lastRepeatFlush = 0;
  private lastStats = Date.now();
  private statsAt = 0;
  private idleWaiters: (() => void)[] = [];
  readonly counters: EngineCounters = {
    batches: 0, events: 0, judged: 0, alerts: 0, repeats: 0, skippedEvents: 0, queued: 0, errors: 0, contents: 0, skippedContent: 0,
  };

  constructor(private readonly db: Database.Database, private readonly opts: DetectionOptions, private readonly log: Logger) {
    createDetectSchema(db);
    this.chain = new AlertChainWriter(db);
    this.instanceRows = new InstanceWriter(db);
    this.homes = new Homes(opts.passwdFile);
    const classes = new Map((opts.sensitive ?? builtInClasses()).map((c) => [c.name, c]));
    this.catalogue = { classOf: (name) => classes.get(name) };
    for (const rec of readBaselines(db)) {
      const a = this.agent(rec.agent, JSON.parse(rec.body) as BaselineJson);
      a.state = rec.state;
      a.learnFrom = rec.learnFrom;
      a.detectFrom = rec.detectFrom;
      a.endedBy = rec.endedBy;
      a.baseline.dirty = false;
    }
    this.adoptOpenInstances();
    this.reloadDedup();
    this.applyRequests();
    this.timers.push(setInterval(() => this.tick(), opts.requestPollMs ?? 250));
    this.timers.push(setInterval(() => this.saveLearning(false), opts.saveEveryMs ?? 30_000));
    for (const t of this.timers) t.unref();
  }

  /** The store's commit hook: queue the batch; judged soon after, never inside the commit. */
  enqueue(batch: CommittedBatch): void {
    if (this.closed || batch.events.length === 0) return;
    this.counters.batches++;
    if (this.queuedEvents + batch.events.length > MAX_QUEUED_EVENTS) {
      this.counters.skippedEvents += batch.events.length;
      if (Date.now() - this.lastSkipLog > 10_000) {
        this.lastSkipLog = Date.now();
        this.log.warn({ skipped: this.counters.skippedEvents }, 'detectors behind: batches skipped unjudged');
      }
      return;
    }
    this.queue.push(batch);
    this.queuedEvents += batch.events.length;
    this.schedule();
  }

  /**
   * A secret the sensor saw leaving an agent (sensor/content/): a
   * `secret_egress` alert, critical, naming the destination, through the
   * alert chain with the same dedup as detector alerts. Its evidence is the
   * finding's classes, offsets and fingerprints (in the summary), not events:
   * the capture is not an event of the batch chain.
   */
  egressFinding(f: EgressFinding): void {
    if (this.closed) return;
    this.agent(f.agent);
    const live = [...this.tracker.all()].find((li) => li.inst.sensorId === f.sensorId && li.inst.agentPid === f.agentPid && li.inst.agent === f.agent);
    const inst: Instance = live?.inst ?? {
      id: -f.agentPid, sensorId: f.sensorId, agent: f.agent, agentPid: f.agentPid, startNs: null, endNs: null,
      uid: null, home: null, cwd: null, exe: null, argv: [],
    };
    const ev = { id: 0n, tsNs: BigInt(f.tsNs), event: { pid: f.pid } as SensorEvent, instance: inst, features: {} } as JudgedEvent;
    const draft: AlertDraft = { rule: SECRET_EGRESS_RULE, severity: 'critical', subject: egressSubject(f), summary: egressSummary(f), evidence: [] };
    this.write(() => this.storeAlerts([{ draft, rule: SECRET_EGRESS_RULE, severity: 'critical', ev }]));
  }

  /**
   * An exec the intent join found no tool call behind, in an instance whose
   * turns are visible (unexplained-action.ts says which ones matter): an
   * `unexplained_action` alert with the exec as evidence.
   */
  unexplainedAction(u: UnexplainedAction): void {
    if (this.closed || !u.action.agent || u.action.agentPid === undefined) return;
    const draft = unexplainedActionDraft(u.eventId, u.action);
    if (!draft) return;
    this.agent(u.action.agent);
    const live = [...this.tracker.all()].find((li) => li.inst.sensorId === u.sensorId && li.inst.agentPid === u.action.agentPid && li.inst.agent === u.action.agent);
    const inst: Instance = live?.inst ?? {
      id: -u.action.agentPid, sensorId: u.sensorId, agent: u.action.agent, agentPid: u.action.agentPid, startNs: null, endNs: null,
      uid: null, home: null, cwd: null, exe: null, argv: [],
    };
    const ev = { id: BigInt(u.eventId), tsNs: BigInt(u.action.tsMs) * 1_000_000n, event: { pid: u.action.pid } as SensorEvent, instance: inst, features: {} } as JudgedEvent;
    this.write(() => this.storeAlerts([{ draft, rule: UNEXPLAINED_ACTION.id, severity: UNEXPLAINED_ACTION.severity, ev }]));
  }

  /** Resolves once every queued event is judged (tests, shutdown). */
  idle(): Promise<void> {
    if (this.queuedEvents === 0 && this.contentQueue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Judges what is queued, flushes repeats, saves baselines and instances. */
  async close(): Promise<void> {
    if (this.closed) return;
    while (this.queuedEvents > 0) this.drainSlice(Number.MAX_SAFE_INTEGER);
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.write(() => {
      this.flushRepeats(true);
      this.saveInstances(true);
    });
    this.saveLearning(true);
  }

  /** Summary per agent, for status lines. */
  agentStates(): { agent: string; state: string; events: number }[] {
    return [...this.agents.values()].map((a) => ({ agent: a.name, state: a.state, events: a.baseline.seen.events }));
  }

  // --- the drain ---

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.closed) return;
      this.drainSlice(SLICE_EVENTS);
      if (this.queuedEvents > 0 || this.contentQueue.length > 0) this.schedule();
      else for (const w of this.idleWaiters.splice(0)) w();
    });
  }

  private drainSlice(max: number): void {
    const alerts: { draft: AlertDraft; rule: string; severity: Severity; ev: JudgedEvent }[] = [];
    let done = 0;
    this.write(() => {
      while (done < max && this.queueHead.batch < this.queue.length) {
        const b = this.queue[this.queueHead.batch]!;
        const end = Math.min(b.events.length, this.queueHead.event + (max - done));
        for (let i = this.queueHead.event; i < end; i++) {
          try {
            this.judge(b.sensorId, b.events[i]!, b.ids[i]!, alerts, b.sensitive?.[i], b.remote !== true);
          } catch (err) {
            this.noteError('an event could not be judged', err); // one bad event must not stop the queue
          }
        }
        done += end - this.queueHead.event;
        this.queueHead.event = end;
        if (end === b.events.length) {
          this.queueHead = { batch: this.queueHead.batch + 1, event: 0 };
        }
      }
      this.queuedEvents -= done;
      this.counters.events += done;
      if (this.queueHead.batch > 64 || this.queueHead.batch === this.queue.length) {
        this.queue = this.queue.slice(this.queueHead.batch);
        this.queueHead = { batch: 0, event: this.queueHead.event };
      }
      this.drainContent(alerts);
      this.storeAlerts(alerts);
      this.checkLearning();
      this.saveInstances(false);
    });
    this.counters.queued = this.queuedEvents;
  }

  private noteError(what: string, err: unknown): void {
    this.counters.errors++;
    if (this.counters.errors <= 10 || this.counters.errors % 10_000 === 0) {
      this.log.error({ err: err instanceof Error ? err.message : String(err), errors: this.counters.errors }, what);
    }
  }

  private write(fn: () => void): void {
    try {
      this.db.transaction(fn)();
    } catch (err) {
      this.chain.reload();
      this.log.error({ err: err instanceof Error ? err.message : String(err) }, 'detection could not write; continuing');
    }
  }

  private judge(sensorId: string, ev: SensorEvent, id: bigint, alerts: { draft: AlertDraft; rule: string; severity: Severity; ev: JudgedEvent }[], tags?: string[], local = true): void {
    if (ev.agent === null) return;
    const agent = this.agent(ev.agent);
    const li = this.tracker.resolve(sensorId, ev, (name, agentPid) => this.newInstance(sensorId, name, agentPid, agent));
    if (!li) return;
    const tsNs = BigInt(ev.tsNs);
    const firstExec = this.noteInstance(sensorId, li, ev, tsNs, local);
    const features = this.features(ev, li.inst, firstExec);
    // A read, deletion or rename of a file the instance wrote whole itself
    if ((features.file?.op === 'read' || ev.type === 'unlink' || ev.type === 'rename') && features.file && li.ownOutput.has(features.file.path)) features.file.ownOutput = true;
    li.ownOutput.note(ev, features);
    const learning = agent.state === 'learning';

    const closed = li.rates.advance(tsNs);
    if (closed && learning) agent.baseline.addMinute(closed, localHour(li.rates.closedMinute));
    if (features.file && ev.type === 'open') li.rates.open(features.file.path);
    if (features.dest) li.rates.connect(features.dest.key);
    if (features.exec) li.rates.exec();
    if (learning) this.learn(agent.baseline, ev, tsNs, features);
    if (ev.type === 'exit' && ev.pid === li.inst.agentPid) {
      const last = li.rates.close();
      if (last && learning) agent.baseline.addMinute(last, localHour(li.rates.closedMinute));
    }

    this.counters.judged++;
    if (tags) features.sensitive = tags;
    features.proc = this.noteProcess(sensorId, ev, tsNs);
    const judged: JudgedEvent = { id, tsNs, event: ev, instance: li.inst, features };
    if (ev.type === 'open' && ev.result >= 0) {
      this.recentOpens.set(id, { judged, sensorId });
      if (this.recentOpens.size > RECENT_OPENS_MAX) this.recentOpens.delete(this.recentOpens.keys().next().value!);
    }
    this.runDetectors(sensorId, judged, li, agent, alerts, false);
  }

  /** Every enabled detector on one event (or, `content`, on the second feed). */
  private runDetectors(sensorId: string, judged: JudgedEvent, li: LiveInstance, agent: AgentRuntime,
    alerts: { draft: AlertDraft; rule: string; severity: Severity; ev: JudgedEvent }[], content: boolean): void {
    const learning = agent.state === 'learning';
    const proc = (pid: number) => this.procs.get(`${sensorId}\0${pid}`);
    for (const det of DETECTORS) {
      if (content && !det.onContent) continue;
      const s = agent.settings.detectors.get(det.meta.id)!;
      if (!s.enabled || (det.meta.phase === 'detecting' && learning)) continue;
      let state = li.states.get(det.meta.id);
      if (state === undefined && !li.states.has(det.meta.id)) {
        state = det.newState(li.inst, s.params);
        li.states.set(det.meta.id, state);
      }
      let out;
      try {
        const ctx = { agent, state, params: s.params, minute: li.rates.counts as MinuteCounts, catalogue: this.catalogue, proc };
        out = content ? det.onContent!(judged, ctx) : det.onEvent(judged, ctx);
      } catch (err) {
        this.noteError(`detector ${det.meta.id} failed`, err);
        continue;
      }
      if (out) for (const draft of out) alerts.push({ draft, rule: draft.rule ?? det.meta.id, severity: draft.severity ?? s.severity, ev: judged });
    }
  }

  /** The process table detectors read (consumers, droppers, pipes): exec sets, fork inherits. */
  private noteProcess(sensorId: string, ev: SensorEvent, tsNs: bigint): ProcInfo | undefined {
    const key = `${sensorId}\0${ev.pid}`;
    if (ev.type === 'exec') {
      const p: ProcInfo = { exe: bs(ev.exe ?? ev.filename), argv: ev.argv.map(bs), ppid: ev.ppid, agentPid: ev.agentPid ?? 0, sinceNs: tsNs };
      this.procs.delete(key);
      this.procs.set(key, p);
    } else if (ev.type === 'fork') {
      const parent = this.procs.get(`${sensorId}\0${ev.ppid}`);
      if (parent) {
        this.procs.delete(key);
        this.procs.set(key, { ...parent, ppid: ev.ppid, agentPid: ev.agentPid ?? parent.agentPid, sinceNs: tsNs });
      }
    }
    if (this.procs.size > PROCS_MAX) this.procs.delete(this.procs.keys().next().value!);
    return this.procs.get(key);
  }

  /** The hasher's feed: an open's content was hashed and scanned (after its batch committed). */
  enqueueContent(c: ContentResult): void {
    if (this.closed) return;
    if (this.contentQueue.length >= CONTENT_QUEUE_MAX) {
      this.counters.skippedContent++;
      return;
    }
    this.contentQueue.push({ c, tries: 0 });
    this.schedule();
  }

  private drainContent(alerts: { draft: AlertDraft; rule: string; severity: Severity; ev: JudgedEvent }[]): void {
    if (this.contentQueue.length === 0) return;
    const later: { c: ContentResult; tries: number }[] = [];
    for (const item of this.contentQueue) {
      const seen = this.recentOpens.get(item.c.eventId);
      if (!seen) {
        // not judged yet (the hash was quicker than the queue), or not an agent's open / forgotten
        if (this.queuedEvents > 0 && item.tries++ < 8) later.push(item);
        continue;
      }
      const li = this.tracker.find(seen.judged.instance);
      const agent = this.agents.get(seen.judged.instance.agent);
      if (!li || !agent) continue;
      const c = item.c;
      const judged: JudgedEvent = {
        ...seen.judged,
        content: {
          fileId: c.fileId, state: c.state, sha256: c.sha256, dlpClasses: c.dlpClasses,
          matches: (c.dlp?.matches ?? []).map((m) => ({ class: m.class, path: m.path, via: m.via, form: m.form })),
        },
      };
      try {
        this.runDetectors(seen.sensorId, judged, li, agent, alerts, true);
      } catch (err) {
        this.noteError('content could not be judged', err);
      }
      this.counters.contents++;
    }
    this.contentQueue = later;
  }

  private learn(b: Baseline, ev: SensorEvent, tsNs: bigint, f: EventFeatures): void {
    b.noteEvent(tsNs);
    if (f.file) b.add('areas', f.file.area);
    if (f.file2) b.add('areas', f.file2.area);
    if (ev.type === 'open') b.seen.opens++;
    if (f.dest) {
      b.add('destinations', f.dest.key);
      b.seen.connects++;
    }
    if (f.exec) {
      b.add('executables', f.exec.key);
      b.seen.execs++;
    }
  }

  /** Updates the instance from its root's exec and exit; true for the root's first exec. */
  private noteInstance(sensorId: string, li: LiveInstance, ev: SensorEvent, tsNs: bigint, local: boolean): boolean {
    li.events++;
    li.lastNs = tsNs;
    li.saved = false;
    const inst = li.inst;
    if (ev.pid !== inst.agentPid) return false;
    if (ev.type === 'exec') {
      const first = !li.execSeen;
      li.execSeen = true;
      li.urgent = true;
      if (first) {
        inst.startNs ??= tsNs;
        inst.cwd = ev.cwd !== undefined ? bs(ev.cwd) : inst.cwd;
      }
      inst.cwd ??= ev.cwd !== undefined ? bs(ev.cwd) : null;
      // The root exec'ing again (a wrapper such as setpriv, runuser or env
      // becoming the agent): its user and command line are the agent's now.
      // `~` is the HOME it was started with (a harness's or sandbox's home
      // is where its keys and sessions are), else its user's home in passwd.
      if (inst.uid !== ev.uid || first) {
        inst.uid = ev.uid;
        agentHomes.note(sensorId, ev);
        inst.home = agentHomes.homeOf(sensorId, inst.agentPid, ev.uid, local) ?? this.homes.of(ev.uid);
      }
      inst.argv = ev.argv.map(bs);
      inst.exe = bs(ev.exe ?? ev.filename);
      return first;
    }
    if (ev.type === 'exit') {
      inst.endNs = tsNs;
      li.exitCode = ev.code;
      li.urgent = true;
    }
    return false;
  }

  private features(ev: SensorEvent, inst: Instance, firstExec: boolean): EventFeatures {
    const ctx: PathContext = { home: inst.home, cwd: inst.cwd };
    const area = (path: string) => {
      const k = `${ctx.home ?? ''}\0${ctx.cwd ?? ''}\0${path}`;
      let a = this.areaCache.get(k);
      if (a === undefined) {
        a = areaOf(path, ctx);
        if (this.areaCache.size >= FEATURE_CACHE_MAX) this.areaCache.clear();
        this.areaCache.set(k, a);
      }
      return a;
    };
    switch (ev.type) {
      case 'open': {
        const path = bs(ev.path);
        return { file: { path, op: ev.access === 'read' ? 'read' : 'write', ok: ev.result >= 0, area: area(path) } };
      }
      case 'unlink': {
        const path = bs(ev.path);
        return { file: { path, op: 'write', ok: ev.result >= 0, area: area(path) } };
      }
      case 'rename': {
        const path = bs(ev.path);
        const to = bs(ev.newpath);
        return {
          file: { path, op: 'write', ok: ev.result >= 0, area: area(path) },
          file2: { path: to, op: 'write', ok: ev.result >= 0, area: area(to) },
        };
      }
      case 'link': {
        const to = bs(ev.newpath);
        return { file2: { path: to, op: 'write', ok: ev.result >= 0, area: area(to) } };
      }
      case 'exec': {
        const path = bs(ev.exe ?? ev.filename);
        return { exec: { path, filename: bs(ev.filename), key: generalisePath(path, ctx, 8), first: firstExec } };
      }
      case 'connect': {
        if (ev.family !== 'inet' && ev.family !== 'inet6' && ev.family !== 'unix') return {};
        const addr = bs(ev.addr);
        const d = destinationOf(ev.family, addr, ev.port, ev.host, ctx);
        return { dest: { ...d, addr, port: ev.port, host: ev.host, family: ev.family } };
      }
      default:
        return {};
    }
  }

  // --- alerts ---

  private storeAlerts(list: { draft: AlertDraft; rule: string; severity: Severity; ev: JudgedEvent }[]): void {
    if (list.length === 0) return;
    const link = this.chain.batchLink();
    const agentSettings = (name: string) => this.agents.get(name)!.settings;
    for (const { draft, rule, severity, ev } of list) {
      const inst = ev.instance;
      const key = `${inst.id}\0${rule}\0${draft.subject}`;
      const p = this.pending.get(key);
      const windowNs = BigInt(agentSettings(inst.agent).dedupWindowMs) * 1_000_000n;
      if (p && ev.tsNs - p.firstNs < windowNs) {
        p.repeats++;
        p.lastNs = ev.tsNs;
        continue;
      }
      if (p && p.repeats > 0) this.flushOne(p);
      const row = {
        kind: 'alert' as const, alertId: null, tsNs: ev.tsNs, sensorId: inst.sensorId, agent: inst.agent,
        agentPid: inst.agentPid, pid: ev.event.pid, rule, severity, subject: draft.subject, summary: draft.summary,
        evidence: JSON.stringify(draft.evidence.map(Number)), baseline: draft.baseline ?? null, count: 1,
        ...link, createdAt: Date.now(),
      };
      const alertId = this.chain.append(row);
      this.pending.set(key, { alertId, firstNs: ev.tsNs, lastNs: ev.tsNs, repeats: 0, inst });
      this.counters.alerts++;
      this.log.warn({
        alert: { id: alertId, agent: inst.agent, agentPid: inst.agentPid, pid: ev.event.pid, rule, severity, evidence: row.evidence, sensorId: inst.sensorId },
      }, draft.summary);
    }
  }

  private flushOne(p: Pending): void {
    this.chain.append({
      kind: 'repeat', alertId: p.alertId, tsNs: p.lastNs, sensorId: p.inst.sensorId, agent: p.inst.agent,
      agentPid: p.inst.agentPid, pid: null, rule: null, severity: null, subject: null, summary: null, evidence: null,
      baseline: null, count: p.repeats, ...this.chain.batchLink(), createdAt: Date.now(),
    });
    this.counters.repeats += p.repeats;
    p.repeats = 0;
  }

  /** Repeat rows for alerts seen again; forgets dedup entries whose window passed. */
  private flushRepeats(all: boolean): void {
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    for (const [k, p] of this.pending) {
      if (p.repeats > 0) this.flushOne(p);
      const windowNs = BigInt(this.agents.get(p.inst.agent)?.settings.dedupWindowMs ?? 0) * 1_000_000n;
      if (all || nowNs - p.lastNs > 2n * windowNs) this.pending.delete(k);
    }
  }

  // --- agents, learning, baselines ---

  private agent(name: string, json?: BaselineJson): AgentRuntime {
    let a = this.agents.get(name);
    if (a) return a;
    const cfg = this.opts.agents?.find((x) => x.name === name);
    a = {
      name, state: 'learning', baseline: new Baseline(name, json), grants: new GrantSet(cfg?.grants ?? {}),
      settings: resolveSettings(this.opts.defaults, cfg?.detect), learnFrom: Date.now(), detectFrom: null, endedBy: null,
      savedAt: 0,
    };
    this.agents.set(name, a);
    return a;
  }

  private newInstance(sensorId: string, agentName: string, agentPid: number, agent: AgentRuntime): LiveInstance {
    const id = this.instanceRows.create(sensorId, agentName, agentPid, null);
    if (agent.state === 'learning') agent.baseline.seen.instances++;
    return {
      inst: { id, sensorId, agent: agentName, agentPid, startNs: null, endNs: null, uid: null, home: null, cwd: null, exe: null, argv: [] },
      rates: new MinuteRates(), states: new Map(), ownOutput: new OwnOutput(), events: 0, lastNs: null, exitCode: null, saved: false, urgent: false,
      execSeen: false, touchedAt: Date.now(),
    };
  }

  /** Instances not ended when the collector last stopped continue (one row, not two, in `sensor agents`). */
  private adoptOpenInstances(): void {
    for (const r of readInstances(this.db, undefined, true)) {
      this.tracker.adopt({
        inst: { id: r.id, sensorId: r.sensorId, agent: r.agent, agentPid: r.agentPid, startNs: r.startNs, endNs: null, uid: r.uid, home: r.home, cwd: r.cwd, exe: r.exe, argv: r.argv },
        rates: new MinuteRates(), states: new Map(), ownOutput: new OwnOutput(), events: r.events, lastNs: r.lastNs, exitCode: null, saved: true, urgent: false,
        execSeen: r.startNs !== null, touchedAt: Date.now(),
      });
    }
  }

  /** Alerts of the last dedup window stay deduplicated across a restart. */
  private reloadDedup(): void {
    const live = new Map<number, Instance>();
    for (const li of this.tracker.all()) live.set(li.inst.id, li.inst);
    if (live.size === 0) return;
    const rows = this.db.prepare(
      `SELECT id, ts_ns, rule, subject, agent, agent_pid, sensor_id FROM alert_chain WHERE kind = 'alert' AND id > (SELECT coalesce(max(id), 0) - 10000 FROM alert_chain)`,
    ).safeIntegers(true).all() as { id: bigint; ts_ns: bigint; rule: string; subject: string; agent: string; agent_pid: bigint; sensor_id: string }[];
    const bySensorPid = new Map<string, Instance>();
    for (const i of live.values()) bySensorPid.set(`${i.sensorId}\0${i.agentPid}`, i);
    for (const r of rows) {
      const inst = bySensorPid.get(`${r.sensor_id}\0${r.agent_pid}`);
      if (!inst || inst.agent !== r.agent) continue;
      this.pending.set(`${inst.id}\0${r.rule}\0${r.subject}`, { alertId: Number(r.id), firstNs: r.ts_ns, lastNs: r.ts_ns, repeats: 0, inst });
    }
  }

  private saveInstances(all: boolean): void {
    for (const li of this.tracker.all()) {
      if (li.saved || (!all && !li.urgent)) continue;
      const i = li.inst;
      this.instanceRows.save({
        id: i.id, startNs: i.startNs, endNs: i.endNs, exitCode: li.exitCode, uid: i.uid, home: i.home, cwd: i.cwd, exe: i.exe,
        argv: i.argv, events: li.events, lastNs: li.lastNs,
      });
      li.saved = true;
      li.urgent = false;
    }
  }

  private checkLearning(): void {
    for (const a of this.agents.values()) {
      if (a.state !== 'learning') continue;
      const b = a.baseline;
      if (b.spanMs() >= a.settings.learningMs && b.seen.events >= a.settings.learningMinEvents) {
        this.endLearning(a, 'complete');
      }
    }
  }

  private endLearning(a: AgentRuntime, by: 'complete' | 'freeze'): void {
    a.state = 'detecting';
    a.detectFrom = Date.now();
    a.endedBy = by;
    this.saveBaseline(a, by === 'freeze' ? 'frozen' : 'learning complete');
    this.log.info({ agent: a.name, events: a.baseline.seen.events, spanMs: a.baseline.spanMs(), by }, 'baseline learned: detecting');
  }

  private saveBaseline(a: AgentRuntime, why: string): void {
    const body = JSON.stringify(a.baseline.toJSON());
    const digest = baselineDigest(a.state, body);
    const now = Date.now();
    writeBaseline(this.db, {
      agent: a.name, state: a.state, learnFrom: a.learnFrom, detectFrom: a.detectFrom, endedBy: a.endedBy,
      learnMs: a.settings.learningMs, learnEvents: a.settings.learningMinEvents, body, digest, updatedAt: now,
    });
    const b = a.baseline;
    this.chain.append({
      kind: 'baseline', alertId: null, tsNs: BigInt(now) * 1_000_000n, sensorId: null, agent: a.name, agentPid: null, pid: null,
      rule: null, severity: null, subject: a.state,
      summary: `${why}: ${count(b.seen.events)} events, ${count(b.seen.instances)} instances over ${spanText(b.spanMs())}`,
      evidence: null, baseline: digest, count: 0, ...this.chain.batchLink(), createdAt: now,
    });
    b.dirty = false;
    a.savedAt = now;
  }

  private saveLearning(all: boolean): void {
    if (this.closed && !all) return;
    this.write(() => {
      for (const a of this.agents.values()) {
        if (a.state === 'learning' && a.baseline.dirty) this.saveBaseline(a, 'learning');
      }
    });
  }

  private tick(): void {
    if (this.closed) return;
    if (Date.now() - this.lastStats >= STATS_EVERY_MS && this.counters.events !== this.statsAt) {
      this.lastStats = Date.now();
      this.statsAt = this.counters.events;
      this.log.info({ ...this.counters, agents: this.agentStates() }, 'detection stats');
    }
    this.applyRequests();
    if (Date.now() - this.lastRepeatFlush >= REPEAT_FLUSH_MS) {
      this.lastRepeatFlush = Date.now();
      this.write(() => this.flushRepeats(false));
    }
    for (const li of this.tracker.sweep(INSTANCE_IDLE_MS)) {
      if (!li.saved) this.write(() => this.instanceRows.save({
        id: li.inst.id, startNs: li.inst.startNs, endNs: li.inst.endNs, exitCode: li.exitCode, uid: li.inst.uid, home: li.inst.home,
        cwd: li.inst.cwd, exe: li.inst.exe, argv: li.inst.argv, events: li.events, lastNs: li.lastNs,
      }));
    }
  }

  /** `sensor baseline --freeze | --relearn`, queued by the CLI in baseline_requests. */
  private applyRequests(): void {
    let reqs: BaselineRequest[];
    try {
      reqs = pendingRequests(this.db);
    } catch {
      return;
    }
    for (const r of reqs) {
      // Judge what is already committed first: the request applies from here on.
      while (this.queuedEvents > 0) this.drainSlice(Number.MAX_SAFE_INTEGER);
      this.write(() => {
        const a = this.agent(r.agent);
        let result: string;
        if (r.op === 'freeze') {
          if (a.state === 'learning') {
            // The minutes still open count too.
            for (const li of this.tracker.all()) {
              if (li.inst.agent !== a.name) continue;
              const c = li.rates.close();
              if (c) a.baseline.addMinute(c, localHour(li.rates.closedMinute));
            }
            this.endLearning(a, 'freeze');
            const b = a.baseline;
            result = `frozen: detecting from now on a baseline of ${count(b.seen.events)} events over ${spanText(b.spanMs())}`;
          } else {
            result = 'already detecting: nothing changed';
          }
        } else {
          a.baseline = new Baseline(a.name);
          a.state = 'learning';
          a.learnFrom = Date.now();
          a.detectFrom = null;
          a.endedBy = null;
          this.saveBaseline(a, 'relearn');
          result = 'learning again from an empty baseline';
          this.log.info({ agent: a.name }, 'baseline relearn requested: learning');
        }
        markRequestApplied(this.db, r.id, result);
      });
    }
  }
}

function localHour(minute: bigint): number {
  return new Date(Number(minute) * 60_000).getHours();
}
