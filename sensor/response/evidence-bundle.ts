// `sensor collect`: an evidence bundle of one agent instance, as a tar.gz:
//   manifest.json          every other item with its size and SHA-256 (last entry)
//   processes.json         live /proc snapshot: tree, command lines, open files, sockets, env NAMES
//   events.jsonl           the instance's stored events, one per line
//   timeline.txt           the same, readable (sensor timeline)
//   alerts.json            the instance's alerts, if the store has them
//   responses.json         isolate/release actions on the instance
//   file-hashes.json       hashes of what it read (from the store) and of the copies below
//   files/NNNN-NAME        copies of small files it wrote or ran, read with its uid/gid
//   copies.json            each copy: original path, writer uid/gid, or why it was not copied
//   credentials-to-rotate.json  credentials it read (built-in list), with what to rotate
//   verify.json            `sensor verify` of the store and its chain head; the responses chain
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { gzipSync } from 'node:zlib';
import type Database from 'better-sqlite3';
import { credentialClass } from '../../collector/query/credential-paths.js';
import type { QueriedRow } from '../../collector/query/event-query.js';
import { instanceAlerts, instanceEvents } from '../../collector/query/instance-events.js';
import { buildTimeline, renderTimeline } from '../../collector/query/timeline.js';
import { listResponses, verifyResponses } from '../../collector/store/response-log.js';
import { verifyChain } from '../../collector/store/verify.js';
import { toBytes } from '../../proto/events/bytes.js';
import type { ByteString } from '../../proto/events/types.js';
import { copyAs } from './file-copy.js';
import { cgroup2Mount } from '../launch/cgroup-v2.js';
import { enumerateInstance } from './instance-processes.js';
import { snapshotProcess } from './proc-snapshot.js';
import { writeTar, type TarEntry } from './tar-archive.js';

export const BUNDLE_FORMAT = 'agent-sensor-evidence/1';
export const MANIFEST_NAME = 'manifest.json';

export interface BundleLimits {
  maxEvents: number;
  maxFileBytes: number;
  maxFiles: number;
  maxCopiedBytes: number;
}

export const DEFAULT_LIMITS: BundleLimits = { maxEvents: 1_000_000, maxFileBytes: 1 << 20, maxFiles: 200, maxCopiedBytes: 32 << 20 };

export interface ManifestItem {
  name: string;
  bytes: number;
  sha256: string;
}

export interface Manifest {
  format: string;
  createdAt: string;
  host: string;
  agentPid: number;
  agent: string | null;
  stateDir: string | null;
  items: ManifestItem[];
}

// Executables under these were installed, not fetched by the agent: not copied.
const SYSTEM_DIRS = /^\/(usr|bin|sbin|lib|lib32|lib64|libx32|opt|snap|nix\/store)\//;

const json = (v: unknown): Buffer => Buffer.from(`${JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x), 2)}\n`);
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const utf8Path = (b: ByteString): string | null => (typeof b === 'string' ? b : null);

function safeName(path: string): string {
  const base = path.split('/').pop() || 'file';
  return base.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60) || 'file';
}

interface CopyCandidate { path: string; uid: number; gid: number; why: 'written' | 'executed' }

function copyCandidates(rows: QueriedRow[], notCopied: { path: ByteString; why: string; skipped?: string }[]): CopyCandidate[] {
  const out = new Map<string, CopyCandidate>();
  const written = new Set<string>();
  const wrote = (b: ByteString, uid: number, gid: number) => {
    const p = utf8Path(b);
    // A path that is not UTF-8 cannot be passed to the reader exactly: listed, not copied.
    if (!p) { notCopied.push({ path: b, why: 'written', skipped: 'path is not UTF-8' }); return; }
    written.add(p);
    out.set(p, { path: p, uid, gid, why: 'written' });
  };
  for (const { event: e } of rows) {
    if (e.type === 'open' && e.access !== 'read' && e.result >= 0) wrote(e.path, e.uid, e.gid);
    else if (e.type === 'rename' && e.result >= 0) wrote(e.newpath, e.uid, e.gid);
  }
  for (const { event: e } of rows) {
    if (e.type !== 'exec') continue;
    const p = utf8Path(e.filename);
    if (p && p.startsWith('/') && (written.has(p) || !SYSTEM_DIRS.test(p))) out.set(p, { path: p, uid: e.uid, gid: e.gid, why: 'executed' });
  }
  return [...out.values()];
}

function credentialsRead(rows: QueriedRow[]) {
  const byPath = new Map<string, { path: string; kind: string; rotate: string; reads: number; first: string; last: string; pids: Set<number>; sha256?: string }>();
  for (const { event: e } of rows) {
    if (e.type !== 'open' || e.access === 'write' || e.result < 0) continue;
    const path = toBytes(e.path).toString('utf8');
    const cls = credentialClass(path);
    if (!cls) continue;
    let c = byPath.get(path);
    if (!c) {
      c = { path, kind: cls.kind, rotate: cls.rotate, reads: 0, first: e.ts, last: e.ts, pids: new Set() };
      byPath.set(path, c);
    }
    c.reads++;
    c.last = e.ts;
    c.pids.add(e.pid);
    if (e.sha256) c.sha256 = e.sha256;
  }
  return [...byPath.values()].map((c) => ({ ...c, pids: [...c.pids] }));
}

export interface CollectInput {
  agentPid: number;
  db: Database.Database | null;
  stateDir: string | null;
  limits?: Partial<BundleLimits>;
}

export interface CollectResult {
  bundle: Buffer;
  manifest: Manifest;
  manifestSha256: string;
  notes: string[];
}

export function collectEvidence(input: CollectInput): CollectResult {
  const limits = { ...DEFAULT_LIMITS, ...input.limits };
  const notes: string[] = [];
  const entries: TarEntry[] = [];
  const add = (name: string, data: Buffer) => entries.push({ name, data });

  // Live state first: it changes while we read the store.
  let mount: string | null = null;
  try { mount = cgroup2Mount(); } catch { notes.push('no cgroup v2 hierarchy: launch cgroup members not listed'); }
  const rows = input.db ? instanceEvents(input.db, { rootPid: input.agentPid, limit: limits.maxEvents }) : [];
  const knownPids = new Set(rows.map((r) => r.event.pid));
  const live = mount ? enumerateInstance(mount, input.agentPid, knownPids) : null;
  if (!live) notes.push(`process ${input.agentPid} is not running: no live snapshot`);
  const snapshots = (live?.pids ?? []).map(snapshotProcess).filter((s) => s !== null);
  add('processes.json', json({ takenAt: new Date().toISOString(), rootPid: input.agentPid, launchCgroup: live?.launchCgroup ?? null, processes: snapshots }));

  let agent: string | null = null;
  if (input.db) {
    const db = input.db;
    if (rows.length >= limits.maxEvents) notes.push(`events cut at ${limits.maxEvents}`);
    agent = rows.find((r) => r.event.agent)?.event.agent ?? null;
    add('events.jsonl', Buffer.from(rows.map((r) => JSON.stringify({ id: r.id.toString(), sensorId: r.sensorId, ...r.event })).join('\n') + (rows.length ? '\n' : '')));
    add('timeline.txt', Buffer.from(`${renderTimeline(buildTimeline(db, { rootPid: input.agentPid, limit: limits.maxEvents }))}\n`));
    add('alerts.json', json(instanceAlerts(db, input.agentPid, new Set(rows.map((r) => r.id)))));
    add('responses.json', json(listResponses(db, input.agentPid)));
    add('credentials-to-rotate.json', json(credentialsRead(rows)));
    const chain = verifyChain(db);
    const head = (db.prepare(`SELECT value FROM meta WHERE key = 'chain_head'`).get() as { value: string } | undefined)?.value ?? null;
    add('verify.json', json({ chain, chainHead: head, responses: verifyResponses(db) }));
    if (!chain.ok) notes.push('the store\'s hash chain does NOT verify: see verify.json');
  } else {
    notes.push('no store: events, alerts, hashes and verify are missing');
  }

  // Copies, with the rights of the process that wrote or ran them.
  const copies: { path: ByteString; why: string; uid?: number; gid?: number; item?: string; sha256?: string; skipped?: string }[] = [];
  let copied = 0;
  let n = 0;
  for (const c of copyCandidates(rows, copies)) {
    if (n >= limits.maxFiles || copied >= limits.maxCopiedBytes) {
      copies.push({ ...c, skipped: 'bundle copy limits reached' });
      continue;
    }
    const r = copyAs(c.path, c.uid, c.gid, Math.min(limits.maxFileBytes, limits.maxCopiedBytes - copied));
    if (!r.ok) {
      copies.push({ ...c, skipped: r.reason });
      continue;
    }
    const item = `files/${String(++n).padStart(4, '0')}-${safeName(c.path)}`;
    add(item, r.data);
    copied += r.data.length;
    copies.push({ ...c, item, sha256: sha256(r.data) });
  }
  add('copies.json', json(copies));
  const readHashes = rows.filter((r) => r.event.type === 'open' && (r.event.sha256 || r.event.hashState))
    .map((r) => ({ eventId: r.id.toString(), ts: r.event.ts, path: (r.event as { path: ByteString }).path, sha256: r.event.sha256 ?? null, state: r.event.hashState ?? 'hashed' }));
  add('file-hashes.json', json({ read: readHashes, copies: copies.filter((c) => c.sha256).map((c) => ({ path: c.path, sha256: c.sha256 })) }));
  add('notes.json', json(notes));

  const manifest: Manifest = {
    format: BUNDLE_FORMAT, createdAt: new Date().toISOString(), host: hostname(), agentPid: input.agentPid, agent,
    stateDir: input.stateDir, items: entries.map((e) => ({ name: e.name, bytes: e.data.length, sha256: sha256(e.data) })),
  };
  const manifestBytes = json(manifest);
  entries.push({ name: MANIFEST_NAME, data: manifestBytes });
  return { bundle: gzipSync(writeTar(entries)), manifest, manifestSha256: sha256(manifestBytes), notes };
}
