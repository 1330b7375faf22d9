// Sensitive class tags on the opens of agents: which catalogue classes
// (collector/sensitive) the path of each open belongs to, or the file it
// names under another one (a hard link, a rename: same-file.ts), written in
// the batch's own transaction. The rows go under the chain as one chained row of
// kind 'sensitive_tag' per batch whose content is the batch's hash and every
// (event id, classes) of the batch, so an edited, added or removed tag shows
// in verify like an edited event.
import type Database from 'better-sqlite3';
import { PathClassifier } from '../sensitive/classify-path.js';
import type { SensitiveClass } from '../sensitive/catalogue.js';
import { UserHomes } from '../sensitive/user-homes.js';
import { agentHomes } from '../sensitive/agent-home.js';
import { EVENT_TYPE_NUMBER } from '../../proto/events/types.js';
import { canonicalValues } from './canonical.js';
import type { ChainedKind, ChainedRowWriter } from './chained-rows.js';
import type { StoredEvent } from './canonical.js';
import type { OpenEvent, SensorEvent } from '../../proto/events/types.js';
import { SameFileMemory } from '../sensitive/same-file.js';
import { BIT_SYMBOLIC, type EventColumns } from './event-rows.js';

export const SENSITIVE_TAG = 'sensitive_tag';

export interface SensitiveTagOptions {
  /** the catalogue (built-in merged with a config's `sensitive:`); default the built-in one */
  classes?: SensitiveClass[];
  /** where homes of uids are read (default /etc/passwd) */
  passwdFile?: string;
}

const statements = new WeakMap<Database.Database, { rows: Database.Statement; batchHash: Database.Statement; count: Database.Statement }>();

function statementsFor(db: Database.Database) {
  let s = statements.get(db);
  if (!s) {
    s = {
      rows: db.prepare('SELECT event_id, classes FROM sensitive_tags WHERE batch_id = ? ORDER BY event_id').safeIntegers(true),
      batchHash: db.prepare('SELECT hash FROM batches WHERE id = ?').pluck(),
      count: db.prepare('SELECT count(DISTINCT batch_id) FROM sensitive_tags WHERE batch_id > ?').pluck().safeIntegers(true),
    };
    statements.set(db, s);
  }
  return s;
}

/** The canonical bytes of one batch's tags as stored (the write and verify both call this). */
export function sensitiveTagContent(db: Database.Database, batchId: bigint): Buffer | null {
  const s = statementsFor(db);
  const hash = s.batchHash.get(batchId) as Buffer | undefined;
  const rows = s.rows.all(batchId) as { event_id: bigint; classes: string }[];
  if (!hash || rows.length === 0) return null;
  return canonicalValues([SENSITIVE_TAG, batchId, hash, ...rows.flatMap((r) => [r.event_id, r.classes])]);
}

export const SENSITIVE_TAG_KIND: ChainedKind = {
  contentOf: (db, batchId) => sensitiveTagContent(db, batchId),
  countAfter: (db, batchId) => statementsFor(db).count.get(batchId) as bigint,
};

const OPEN = EVENT_TYPE_NUMBER.open;
const RENAME = EVENT_TYPE_NUMBER.rename;
const LINK = EVENT_TYPE_NUMBER.link;
const UNLINK = EVENT_TYPE_NUMBER.unlink;

/** Classifies a batch's agent opens and writes their tags; inside the batch's transaction. */
export class SensitiveTagger {
  private readonly classifier: PathClassifier;
  private readonly homes: UserHomes;
  private readonly insert: Database.Statement;
  /** files in a class opened under another name: hard links, renames (same-file.ts) */
  private readonly sameFile = new SameFileMemory();

  constructor(private readonly db: Database.Database, private readonly chain: ChainedRowWriter, opts: SensitiveTagOptions = {}) {
    this.classifier = new PathClassifier(opts.classes);
    this.homes = new UserHomes(opts.passwdFile);
    this.insert = db.prepare('INSERT OR REPLACE INTO sensitive_tags (event_id, batch_id, classes) VALUES (?, ?, ?)');
  }

  // UserHomes stats passwd on every call; a batch asks once per uid, and the file at most once a second.
  private homeCache = new Map<number, string | undefined>();
  private homeCacheAt = 0;
  private homeOf(uid: number): string | undefined {
    const now = Date.now();
    if (now - this.homeCacheAt > 1000) {
      this.homeCache.clear();
      this.homeCacheAt = now;
    }
    if (!this.homeCache.has(uid)) this.homeCache.set(uid, this.homes.homeOf(uid));
    return this.homeCache.get(uid);
  }

  /**
   * Tags of the batch's events, by index (undefined: none); rows and the
   * chained row written. from: the batch's sensor, its events (an agent
   * root's exec carries its HOME), and whether it came from another host,
   * whose pids are not this host's to look up.
   */
  tag(batchId: bigint, stored: StoredEvent[], from: { sensorId: string; events: SensorEvent[]; remote: boolean }): (string[] | undefined)[] | undefined {
    let out: (string[] | undefined)[] | undefined;
    for (const ev of from.events) if (ev.type === 'exec') agentHomes.note(from.sensorId, ev);
    const classesOfPath = (c: EventColumns, path: Buffer): string[] => {
      const agentHome = agentHomes.homeOf(from.sensorId, c.agentPid ?? c.pid, c.uid, !from.remote);
      return this.classifier.classify(path, { pid: c.pid, home: this.homeOf(c.uid), agentHome: agentHome ?? undefined }).map((m) => m.class);
    };
    for (let i = 0; i < stored.length; i++) {
      const c = stored[i]!.columns;
      if (c.agent === null || c.path === null) continue;
      if (c.result === 0 && c.newpath !== null && (c.type === RENAME || c.type === LINK && !(c.bits & BIT_SYMBOLIC))) {
        const known = classesOfPath(c, c.path);
        this.sameFile.named(from.sensorId, c.path, c.newpath, known.length ? known : this.sameFile.classesOfName(from.sensorId, c.path), c.type === RENAME);
      }
      if (c.type === UNLINK && c.result === 0) this.sameFile.unlinked(from.sensorId, c.path);
      if (c.type !== OPEN) continue;
      const inode = (from.events[i] as OpenEvent | undefined)?.inode;
      let classes = classesOfPath(c, c.path);
      if (classes.length > 0) this.sameFile.openedSensitive(from.sensorId, inode, classes);
      else classes = this.sameFile.classesOf(from.sensorId, c.path, inode) ?? [];
      if (classes.length === 0) continue;
      this.insert.run(stored[i]!.id, batchId, JSON.stringify(classes));
      (out ??= new Array(stored.length))[i] = classes;
    }
    if (out) {
      const content = sensitiveTagContent(this.db, batchId);
      if (!content) throw new Error('sensitive tags just written cannot be read back');
      this.chain.append(SENSITIVE_TAG, batchId, batchId, content);
    }
    return out;
  }
}
