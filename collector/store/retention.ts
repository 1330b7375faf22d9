// Retention by age and by size, in small chunks: each chunk is one short
// transaction over a contiguous prefix of the chain (oldest batches first),
// so ingestion waits at most one chunk. The last pruned link becomes the
// chain anchor, from which verify continues. Chained rows (chained-rows.ts)
// go as a prefix too: those up to the first one about a batch still kept.
import type Database from 'better-sqlite3';

export interface RetentionPolicy {
  maxAgeDays?: number;
  maxBytes?: number;
}

export interface PruneResult {
  batches: number;
  events: number;
  /** process, file and string rows swept because nothing kept refers to them */
  swept: number;
}

const CHUNK_BATCHES = 64;
const CHUNK_EVENTS = 5_000;
const CHUNK_SWEEP = 5_000;

/** Bytes of the database holding data (free pages excluded; they are reused). */
export function usedBytes(db: Database.Database): number {
  const pages = db.pragma('page_count', { simple: true }) as number;
  const free = db.pragma('freelist_count', { simple: true }) as number;
  const size = db.pragma('page_size', { simple: true }) as number;
  return (pages - free) * size;
}

interface Candidate {
  id: bigint;
  hash: Buffer;
  received_at: bigint;
  event_count: bigint;
  first_event_id: bigint | null;
}

export class Retention {
  private readonly oldest: Database.Statement;
  private readonly deleteEvents: Database.Statement;
  private readonly deleteBatches: Database.Statement;
  private readonly deleteFileLinks: Database.Statement;
  private readonly deleteTags: Database.Statement;
  private readonly deleteIntent: Database.Statement[];
  private readonly anchor: Database.Statement;
  private readonly lastPrunableRow: Database.Statement;
  private readonly deleteRows: Database.Statement;
  private readonly anchorRows: Database.Statement;
  private readonly chunkTx: (batches: Candidate[]) => Omit<PruneResult, 'swept'>;
  private readonly sweepTx: () => number;

  /** onSwept: strings were deleted, so cached string ids must be dropped. */
  constructor(
    private readonly db: Database.Database,
    private readonly policy: RetentionPolicy,
    private readonly onSwept: () => void = () => undefined,
  ) {
    this.oldest = db.prepare(
      `SELECT id, hash, received_at, event_count, first_event_id FROM batches ORDER BY id LIMIT ${CHUNK_BATCHES}`,
    ).safeIntegers(true);
    this.deleteEvents = db.prepare('DELETE FROM events WHERE id <= ?');
    this.deleteBatches = db.prepare('DELETE FROM batches WHERE id <= ?');
    this.deleteFileLinks = db.prepare('DELETE FROM file_links WHERE batch_id <= ?');
    this.deleteTags = db.prepare('DELETE FROM sensitive_tags WHERE batch_id <= ?');
    this.deleteIntent = ['model_turns', 'tool_calls', 'intent_links'].map((t) => db.prepare(`DELETE FROM ${t} WHERE batch_id <= ?`));
    this.anchor = db.prepare(
      `INSERT INTO chain_anchor (id, batch_id, link, pruned_batches, pruned_events, updated_at)
       VALUES (1, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET batch_id = excluded.batch_id, link = excluded.link,
         pruned_batches = pruned_batches + excluded.pruned_batches,
         pruned_events = pruned_events + excluded.pruned_events, updated_at = excluded.updated_at`,
    );
    // Rows follow their batches closely in id order, so the scan from the oldest id stops soon.
    this.lastPrunableRow = db.prepare(
      `SELECT id, link FROM chained_rows
        WHERE id < coalesce((SELECT id FROM chained_rows WHERE batch_id > ? ORDER BY id LIMIT 1), (SELECT max(id) + 1 FROM chained_rows))
        ORDER BY id DESC LIMIT 1`,
    ).safeIntegers(true);
    this.deleteRows = db.prepare('DELETE FROM chained_rows WHERE id <= ?');
    this.anchorRows = db.prepare('UPDATE chain_anchor SET rows_id = ?, rows_link = ? WHERE id = 1');
    this.chunkTx = db.transaction((batches: Candidate[]) => {
      const last = batches[batches.length - 1]!;
      let maxEventId = -1n;
      for (const b of batches) {
        if (b.first_event_id !== null && b.event_count > 0n) {
          const end = b.first_event_id + b.event_count - 1n;
          if (end > maxEventId) maxEventId = end;
        }
      }
      const events = maxEventId >= 0n ? this.deleteEvents.run(maxEventId).changes : 0;
      this.deleteBatches.run(last.id);
      this.deleteFileLinks.run(last.id);
      this.deleteTags.run(last.id);
      for (const d of this.deleteIntent) d.run(last.id);
      this.anchor.run(last.id, last.hash, batches.length, events, Date.now());
      const row = this.lastPrunableRow.get(last.id) as { id: bigint; link: Buffer } | undefined;
      if (row) {
        this.deleteRows.run(row.id);
        this.anchorRows.run(row.id, row.link);
      }
      return { batches: batches.length, events };
    });
    // Rows that only pruned batches used: last_batch at or below the anchor.
    const anchorId = db.prepare('SELECT batch_id FROM chain_anchor WHERE id = 1').pluck();
    const sweeps = [
      db.prepare(`DELETE FROM processes WHERE (sensor_sid, pid, start_ns) IN
                    (SELECT sensor_sid, pid, start_ns FROM processes WHERE last_batch <= ? LIMIT ${CHUNK_SWEEP})`),
      db.prepare(`DELETE FROM file_dlp WHERE file_id IN (SELECT id FROM files WHERE last_batch <= ? LIMIT ${CHUNK_SWEEP})`),
      db.prepare(`DELETE FROM files WHERE id IN (SELECT id FROM files WHERE last_batch <= ? LIMIT ${CHUNK_SWEEP})`),
      db.prepare(`DELETE FROM strings WHERE id IN (SELECT id FROM strings WHERE last_batch <= ? LIMIT ${CHUNK_SWEEP})`),
    ];
    this.sweepTx = db.transaction(() => {
      const upTo = anchorId.get() as number | undefined;
      if (upTo === undefined) return 0;
      let n = 0;
      for (const sweep of sweeps) n += sweep.run(upTo).changes;
      return n;
    });
  }

  get enabled(): boolean {
    return this.policy.maxAgeDays !== undefined || this.policy.maxBytes !== undefined;
  }

  /** Prunes at most one chunk and sweeps what it orphaned; all zero when nothing is due. */
  pruneChunk(now = Date.now()): PruneResult {
    const swept = this.sweepTx();
    if (swept > 0) this.onSwept();
    const pruned = this.pruneBatches(now);
    if (pruned.batches > 0) this.db.pragma('incremental_vacuum(2048)'); // give freed pages back a little at a time
    return { ...pruned, swept };
  }

  private pruneBatches(now: number): Omit<PruneResult, 'swept'> {
    const candidates = this.oldest.all() as Candidate[];
    if (candidates.length === 0) return { batches: 0, events: 0 };
    const overSize = this.policy.maxBytes !== undefined && usedBytes(this.db) > this.policy.maxBytes;
    const cutoff = this.policy.maxAgeDays !== undefined ? BigInt(Math.floor(now - this.policy.maxAgeDays * 86_400_000)) : null;
    const chosen: Candidate[] = [];
    let events = 0n;
    for (const b of candidates) {
      const tooOld = cutoff !== null && b.received_at < cutoff;
      if (!tooOld && !overSize) break; // the chain is pruned as a prefix only
      chosen.push(b);
      events += b.event_count;
      if (events >= BigInt(CHUNK_EVENTS)) break;
    }
    if (chosen.length === 0) return { batches: 0, events: 0 };
    return this.chunkTx(chosen);
  }

  /** Prunes until nothing is due, at most maxChunks chunks. */
  pruneAll(now = Date.now(), maxChunks = 10_000): PruneResult {
    const total = { batches: 0, events: 0, swept: 0 };
    for (let i = 0; i < maxChunks; i++) {
      const r = this.pruneChunk(now);
      if (r.batches === 0 && r.swept === 0) break;
      total.batches += r.batches;
      total.events += r.events;
      total.swept += r.swept;
    }
    return total;
  }
}
