// Walks the hash chain from its anchor (genesis, or the last link retention
// pruned) and names the first batch that was altered, deleted or reordered;
// then the chained rows (file hashes and links, chained-rows.ts) the same way.
//
// What it cannot see on its own: the chain rebuilt by someone who can write
// the file (the chain is not keyed), including the newest batches cut off
// with the head records rewritten to match. A head exported elsewhere
// earlier (`sensor verify` prints it; SIEM, log, paper) closes that gap:
// `expected` checks that the batch it names is still there with that link.
import type Database from 'better-sqlite3';
import { canonicalBatchBytes, chainLink, GENESIS_LINK, type BatchRow } from './canonical.js';
import { CHAINED_KINDS } from './chained-kinds.js';
import { formatHead, verifyChainedRows } from './chained-rows.js';
import { StringReader } from './interning.js';
import { decodeEventRow, type RawEventRow } from './stored-rows.js';

export interface BadBatch {
  batchId: bigint;
  sensorId: string | null;
  bootId: string | null;
  seq: bigint | null;
  problem: 'altered' | 'deleted' | 'reordered' | 'extra-events' | 'truncated' | 'extra-rows' | 'unexpected-head';
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
  /** `<batch id>:<link hex>` of the newest batch: what to export and later pass as `expected` */
  head: string;
  /** `<batch id>:<link hex>` the chain starts from (genesis: 0:00..00) */
  anchor: string;
  /** chained rows (file hashes and links) verified, and their head */
  rows: number;
  rowsHead: string;
  firstBad?: BadBatch;
}

export interface VerifyOptions {
  /** a head exported earlier (`<batch id>:<link hex>`): that batch must still be in the chain with that link */
  expected?: string;
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
  rows_head_id: bigint;
  rows_head_link: Buffer;
}

/** Reads in one transaction: a collector committing meanwhile cannot make the walk see half a state. */
export function verifyChain(db: Database.Database, opts: VerifyOptions = {}): VerifyResult {
  return db.transaction(() => walkChain(db, opts))();
}

function walkChain(db: Database.Database, opts: VerifyOptions): VerifyResult {
  const strings = new StringReader(db);
  const anchor = db.prepare('SELECT batch_id, link, pruned_batches, rows_id, rows_link FROM chain_anchor WHERE id = 1')
    .safeIntegers(true).get() as
    { batch_id: bigint; link: Buffer; pruned_batches: bigint; rows_id: bigint; rows_link: Buffer } | undefined;
  const eventsOf = db.prepare('SELECT * FROM events WHERE id >= ? AND id < ? ORDER BY id').safeIntegers(true);
  const rowLink = db.prepare('SELECT link FROM chained_rows WHERE id = ?').pluck();
  const result: VerifyResult = {
    ok: true, batches: 0, events: 0, anchorBatchId: anchor?.batch_id ?? null,
    prunedBatches: Number(anchor?.pruned_batches ?? 0n), headLink: '', head: '',
    anchor: formatHead({ id: anchor?.batch_id ?? 0n, link: anchor?.link ?? GENESIS_LINK }), rows: 0, rowsHead: '',
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
        eventCount: b.event_count, firstEventId: b.first_event_id, rowsHeadId: b.rows_head_id, rowsHeadLink: b.rows_head_link,
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
    // The chained rows head this batch committed to must be the stored link of that row.
    const rowsId = b.rows_head_id;
    const prunedRows = anchor && rowsId <= anchor.rows_id;
    if (rowsId > 0n && !prunedRows) {
      const stored = rowLink.get(rowsId) as Buffer | undefined;
      if (!stored || !stored.equals(b.rows_head_link)) {
        return fail({ ...named, problem: 'altered', detail: `chained row ${rowsId} this batch committed to is gone or changed` });
      }
    } else if (prunedRows && rowsId === anchor.rows_id && !anchor.rows_link.equals(b.rows_head_link)) {
      return fail({ ...named, problem: 'altered', detail: `chained row ${rowsId} this batch committed to differs from the anchor` });
    }
    prev = link;
    expectedId++;
    result.batches++;
    result.events += Number(b.event_count);
  }

  const head = db.prepare(`SELECT value FROM meta WHERE key = 'chain_head'`).get() as { value: string } | undefined;
  if (!head && (result.batches > 0 || anchor)) {
    // Deleting the record must not switch the check off.
    return fail({
      batchId: expectedId - 1n, sensorId: null, bootId: null, seq: null, problem: 'truncated',
      detail: 'the chain head record (meta chain_head) is missing',
    });
  }
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
  result.head = `${expectedId - 1n}:${result.headLink}`;

  const rows = verifyChainedRows(db, CHAINED_KINDS, anchor?.batch_id ?? null);
  result.rows = rows.rows;
  result.rowsHead = formatHead(rows.head);
  if (rows.bad) {
    const owner = rows.bad.batchId !== null ? (db.prepare('SELECT sensor_id, boot_id, seq FROM batches WHERE id = ?')
      .safeIntegers(true).get(rows.bad.batchId) as { sensor_id: string; boot_id: string; seq: bigint } | undefined) : undefined;
    return fail({
      batchId: rows.bad.batchId ?? -1n, sensorId: owner?.sensor_id ?? null, bootId: owner?.boot_id ?? null,
      seq: owner?.seq ?? null, problem: rows.bad.problem, detail: rows.bad.detail,
    });
  }
  if (opts.expected !== undefined) {
    const bad = checkExpected(db, opts.expected, anchor?.batch_id ?? null, expectedId - 1n);
    if (bad) return fail(bad);
  }
  return result;
}

function checkExpected(db: Database.Database, expected: string, anchorId: bigint | null, lastId: bigint): BadBatch | null {
  const m = /^(\d+):([0-9a-f]{64})$/.exec(expected.trim().toLowerCase());
  const bad = (batchId: bigint, detail: string): BadBatch =>
    ({ batchId, sensorId: null, bootId: null, seq: null, problem: 'unexpected-head', detail });
  if (!m) return bad(-1n, `--expect wants <batch id>:<64 hex digits> as verify printed it, not ${JSON.stringify(expected)}`);
  const id = BigInt(m[1]!);
  if (id > lastId) return bad(id, `the expected head batch ${id} is past the end of the chain (batch ${lastId}): batches were cut off`);
  if (anchorId !== null && id < anchorId) return bad(id, `the expected head batch ${id} was pruned (the chain starts after batch ${anchorId}); it cannot be checked`);
  const link = id === anchorId
    ? (db.prepare('SELECT link FROM chain_anchor WHERE id = 1').pluck().get() as Buffer | undefined)
    : (db.prepare('SELECT hash FROM batches WHERE id = ?').pluck().get(id) as Buffer | undefined);
  if (!link || link.toString('hex') !== m[2]) return bad(id, `batch ${id} no longer has the expected link: the chain was rebuilt`);
  return null;
}

export function describeBad(bad: BadBatch): string {
  const who = bad.sensorId !== null ? ` (sensor ${bad.sensorId} boot ${bad.bootId} seq ${bad.seq})` : '';
  return `batch ${bad.batchId}${who} ${bad.problem}: ${bad.detail}`;
}
