// Walks the hash chain from its anchor (genesis, or the last link retention
// pruned) and names the first batch that was altered, deleted or reordered.
//
// What it cannot see on its own: the newest batches being cut off together
// with the `chain_head` record, or the whole chain rebuilt by someone who can
// write the file. Export the printed head link elsewhere (SIEM, log) to close
// that gap.
import type Database from 'better-sqlite3';
import { canonicalBatchBytes, chainLink, GENESIS_LINK, type BatchRow } from './canonical.js';
import { StringReader } from './interning.js';
import { decodeEventRow, type RawEventRow } from './stored-rows.js';

export interface BadBatch {
  batchId: bigint;
  sensorId: string | null;
  bootId: string | null;
  seq: bigint | null;
  problem: 'altered' | 'deleted' | 'reordered' | 'extra-events' | 'truncated';
  detail: string;
}

export interface VerifyResult {
  ok: boolean;
  batches: number;
  events: number;
  /** the chain starts at this pruned batch's link (null: at genesis) */
  anchorBatchId: bigint | null;
  prunedBatches: number;
  headLink: string;
  firstBad?: BadBatch;
}

interface RawBatch {
  id: bigint;
  sensor_id: string;
  boot_id: string;
  seq: bigint;
  received_at: bigint;
  event_count: bigint;
  first_event_id: bigint | null;
  hash: Buffer;
  prev_hash: Buffer;
}

/** Reads in one transaction: a collector committing meanwhile cannot make the walk see half a state. */
export function verifyChain(db: Database.Database): VerifyResult {
  return db.transaction(() => walkChain(db))();
}

function walkChain(db: Database.Database): VerifyResult {
  const strings = new StringReader(db);
  const anchor = db.prepare('SELECT batch_id, link, pruned_batches FROM chain_anchor WHERE id = 1').safeIntegers(true)
    .get() as { batch_id: bigint; link: Buffer; pruned_batches: bigint } | undefined;
  const eventsOf = db.prepare('SELECT * FROM events WHERE id >= ? AND id < ? ORDER BY id').safeIntegers(true);
  const result: VerifyResult = {
    ok: true, batches: 0, events: 0, anchorBatchId: anchor?.batch_id ?? null,
    prunedBatches: Number(anchor?.pruned_batches ?? 0n), headLink: '',
  };
  const fail = (bad: BadBatch): VerifyResult => ({ ...result, ok: false, firstBad: bad });

  let prev = anchor?.link ?? GENESIS_LINK;
  let expectedId = anchor ? anchor.batch_id + 1n : 1n;
  let covered = 0n;
  const batches = db.prepare('SELECT * FROM batches ORDER BY id').safeIntegers(true).iterate() as IterableIterator<RawBatch>;
  for (const b of batches) {
    const named = { batchId: b.id, sensorId: b.sensor_id, bootId: b.boot_id, seq: b.seq };
    if (b.id !== expectedId) {
      const missing = b.id - 1n === expectedId ? `${expectedId}` : `${expectedId}..${b.id - 1n}`;
      return fail({
        batchId: expectedId, sensorId: null, bootId: null, seq: null, problem: 'deleted',
        detail: `batch id ${missing} missing before batch ${b.id} (sensor ${b.sensor_id} boot ${b.boot_id} seq ${b.seq})`,
      });
    }
    if (!Buffer.isBuffer(b.prev_hash) || !b.prev_hash.equals(prev)) {
      return fail({ ...named, problem: 'reordered', detail: 'prev_hash does not continue the chain' });
    }
    let link: Buffer;
    try {
      const row: BatchRow = {
        id: b.id, sensorId: b.sensor_id, bootId: b.boot_id, seq: b.seq, receivedAt: b.received_at,
        eventCount: b.event_count, firstEventId: b.first_event_id,
      };
      const from = b.first_event_id ?? 0n;
      const raw = b.event_count > 0n ? (eventsOf.all(from, from + b.event_count) as RawEventRow[]) : [];
      link = chainLink(prev, canonicalBatchBytes(row, raw.map((r) => decodeEventRow(r, strings))));
      covered += BigInt(raw.length);
    } catch (err) {
      return fail({ ...named, problem: 'altered', detail: `stored rows do not decode: ${(err as Error).message}` });
    }
    if (!Buffer.isBuffer(b.hash) || !link.equals(b.hash)) {
      return fail({ ...named, problem: 'altered', detail: 'stored rows no longer hash to the recorded link' });
    }
    prev = link;
    expectedId++;
    result.batches++;
    result.events += Number(b.event_count);
  }

  const head = db.prepare(`SELECT value FROM meta WHERE key = 'chain_head'`).get() as { value: string } | undefined;
  if (head) {
    const [headId, headHex] = head.value.split(':');
    if (BigInt(headId!) !== expectedId - 1n || headHex !== prev.toString('hex')) {
      return fail({
        batchId: BigInt(headId!), sensorId: null, bootId: null, seq: null, problem: 'truncated',
        detail: `the chain ends at batch ${expectedId - 1n} but the last commit recorded batch ${headId}`,
      });
    }
  }

  const total = (db.prepare('SELECT count(*) AS n FROM events').safeIntegers(true).get() as { n: bigint }).n;
  if (total !== covered) {
    const stray = db.prepare(
      `SELECT e.id, e.batch_id FROM events e LEFT JOIN batches b ON b.id = e.batch_id
        WHERE b.id IS NULL OR e.id < b.first_event_id OR e.id >= b.first_event_id + b.event_count LIMIT 1`,
    ).safeIntegers(true).get() as { id: bigint; batch_id: bigint } | undefined;
    const owner = stray ? (db.prepare('SELECT sensor_id, boot_id, seq FROM batches WHERE id = ?').safeIntegers(true)
      .get(stray.batch_id) as { sensor_id: string; boot_id: string; seq: bigint } | undefined) : undefined;
    return fail({
      batchId: stray?.batch_id ?? -1n, sensorId: owner?.sensor_id ?? null, bootId: owner?.boot_id ?? null,
      seq: owner?.seq ?? null, problem: 'extra-events',
      detail: `${total - covered} event row(s) outside every batch's range${stray ? ` (first: event ${stray.id})` : ''}`,
    });
  }
  result.headLink = prev.toString('hex');
  return result;
}

export function describeBad(bad: BadBatch): string {
  const who = bad.sensorId !== null ? ` (sensor ${bad.sensorId} boot ${bad.bootId} seq ${bad.seq})` : '';
  return `batch ${bad.batchId}${who} ${bad.problem}: ${bad.detail}`;
}
