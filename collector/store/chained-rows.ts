// Chained rows: facts the store writes after their batch committed (the hash
// of a file an agent read and the link from the batch's opens to it; alerts
// later) under a hash chain of their own, so that verify sees them edited,
// deleted or added just as it sees event rows.
//
// The pattern, for every kind of row:
//  - the rows themselves live in their own tables, written as usual;
//  - in the same transaction, append(kind, batchId, ref, content) adds one
//    `chained_rows` row: digest = SHA-256(content), link = SHA-256(previous
//    link || digest); `content` are canonical bytes the kind builds from the
//    rows as stored (and that include the hash of the batch they are about),
//    by the same function verify calls later (ChainedKind.contentOf);
//  - every batch commits to the head of this chain (batches.rows_head_*), so
//    the exported batch head vouches for the chained rows written before it;
//  - retention deletes the rows with their batch, and the chain as a prefix
//    (chain_anchor.rows_*); for a row whose batch is pruned verify trusts the
//    stored digest, the content being gone by design.
// A new kind (issue 11: alerts) names itself, gives contentOf and countAfter
// (rows of the kind that must all be covered), is added to CHAINED_KINDS
// in chained-kinds.ts, and calls append() where it writes its rows.
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { GENESIS_LINK } from './canonical.js';

export interface ChainedKind {
  /** canonical bytes of the stored rows (batchId, ref) names; null when they are gone */
  contentOf(db: Database.Database, batchId: bigint, ref: bigint): Buffer | null;
  /** how many rows of this kind belong to batches after `batchId` (each must have a chained row) */
  countAfter(db: Database.Database, batchId: bigint): bigint;
}

export interface ChainHead {
  id: bigint;
  link: Buffer;
}

export const ROWS_HEAD_KEY = 'rows_head';
export const GENESIS_ROWS_HEAD: ChainHead = { id: 0n, link: Buffer.alloc(0) };

const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();

/** The link a chained row continues from: genesis for the first (empty link = no row yet). */
const previousLink = (head: ChainHead): Buffer => (head.id === 0n ? GENESIS_LINK : head.link);

export function formatHead(h: ChainHead): string {
  return `${h.id}:${h.link.toString('hex')}`;
}

export function parseHead(value: string): ChainHead | null {
  const m = /^(\d+):([0-9a-f]*)$/.exec(value);
  return m ? { id: BigInt(m[1]!), link: Buffer.from(m[2]!, 'hex') } : null;
}

/** The writer's side: appends rows and keeps the head (meta.rows_head) in step. */
export class ChainedRowWriter {
  private current: ChainHead = GENESIS_ROWS_HEAD;
  private readonly insert: Database.Statement;
  private readonly setHead: Database.Statement;
  private readonly readHead: Database.Statement;
  private readonly readAnchor: Database.Statement;

  constructor(db: Database.Database) {
    this.insert = db.prepare('INSERT INTO chained_rows (kind, batch_id, ref, digest, link) VALUES (?, ?, ?, ?, ?)');
    this.setHead = db.prepare(`INSERT INTO meta (key, value) VALUES ('${ROWS_HEAD_KEY}', ?)
                               ON CONFLICT (key) DO UPDATE SET value = excluded.value`);
    this.readHead = db.prepare(`SELECT value FROM meta WHERE key = '${ROWS_HEAD_KEY}'`).pluck();
    this.readAnchor = db.prepare('SELECT rows_id, rows_link FROM chain_anchor WHERE id = 1').safeIntegers(true);
    this.reload();
  }

  get head(): ChainHead {
    return this.current;
  }

  /** Re-reads the head from the database (after a rolled back transaction). */
  reload(): void {
    const stored = this.readHead.get() as string | undefined;
    const parsed = stored ? parseHead(stored) : null;
    if (parsed) {
      this.current = parsed;
      return;
    }
    const anchor = this.readAnchor.get() as { rows_id: bigint; rows_link: Buffer } | undefined;
    this.current = anchor && anchor.rows_id > 0n ? { id: anchor.rows_id, link: anchor.rows_link } : GENESIS_ROWS_HEAD;
  }

  /** Inside the transaction that wrote the rows `content` was built from. */
  append(kind: string, batchId: bigint, ref: bigint, content: Buffer): void {
    const digest = sha256(content);
    const link = createHash('sha256').update(previousLink(this.current)).update(digest).digest();
    const id = BigInt(this.insert.run(kind, batchId, ref, digest, link).lastInsertRowid);
    this.current = { id, link };
    this.setHead.run(formatHead(this.current));
  }
}

export interface BadChainedRow {
  rowId: bigint;
  kind: string | null;
  batchId: bigint | null;
  problem: 'altered' | 'deleted' | 'truncated' | 'extra-rows';
  detail: string;
}

export interface ChainedRowsResult {
  rows: number;
  head: ChainHead;
  /** stored link of every row id a batch may name (only those asked for) */
  bad?: BadChainedRow;
}

interface RawChainedRow {
  id: bigint;
  kind: string;
  batch_id: bigint;
  ref: bigint;
  digest: Buffer;
  link: Buffer;
}

/**
 * Walks chained_rows from their anchor: contiguous ids, each link continuing
 * the previous one, each digest matching the rows it covers (unless their
 * batch was pruned), the head record present and equal to the last row, and
 * no row of a known kind left uncovered.
 */
export function verifyChainedRows(
  db: Database.Database, kinds: Record<string, ChainedKind>, prunedUpToBatch: bigint | null,
): ChainedRowsResult {
  const anchor = db.prepare('SELECT rows_id, rows_link FROM chain_anchor WHERE id = 1').safeIntegers(true)
    .get() as { rows_id: bigint; rows_link: Buffer } | undefined;
  let head: ChainHead = anchor && anchor.rows_id > 0n ? { id: anchor.rows_id, link: anchor.rows_link } : GENESIS_ROWS_HEAD;
  const result: ChainedRowsResult = { rows: 0, head };
  const fail = (bad: BadChainedRow): ChainedRowsResult => ({ ...result, head, bad });
  const covered = new Map<string, bigint>();
  const rows = db.prepare('SELECT * FROM chained_rows ORDER BY id').safeIntegers(true).iterate() as IterableIterator<RawChainedRow>;
  for (const r of rows) {
    const named = { rowId: r.id, kind: r.kind, batchId: r.batch_id };
    if (r.id !== head.id + 1n) {
      return fail({ ...named, problem: 'deleted', detail: `chained row ${head.id + 1n}..${r.id - 1n} missing before row ${r.id}` });
    }
    const kind = kinds[r.kind];
    if (!kind) return fail({ ...named, problem: 'altered', detail: `chained row ${r.id} has an unknown kind ${JSON.stringify(r.kind)}` });
    const link = createHash('sha256').update(previousLink(head)).update(r.digest).digest();
    if (!Buffer.isBuffer(r.link) || !link.equals(r.link)) {
      return fail({ ...named, problem: 'altered', detail: `chained row ${r.id} (${r.kind}) does not continue the chain` });
    }
    const pruned = prunedUpToBatch !== null && r.batch_id <= prunedUpToBatch;
    if (!pruned) {
      const content = kind.contentOf(db, r.batch_id, r.ref);
      if (content === null) {
        return fail({ ...named, problem: 'altered', detail: `the rows of chained row ${r.id} (${r.kind}) are gone` });
      }
      if (!sha256(content).equals(r.digest)) {
        return fail({ ...named, problem: 'altered', detail: `the rows of chained row ${r.id} (${r.kind}) no longer hash to its digest` });
      }
      covered.set(r.kind, (covered.get(r.kind) ?? 0n) + 1n);
    }
    head = { id: r.id, link };
    result.rows++;
  }
  const stored = db.prepare(`SELECT value FROM meta WHERE key = '${ROWS_HEAD_KEY}'`).pluck().get() as string | undefined;
  if (head.id > 0n || stored !== undefined) {
    const recorded = stored ? parseHead(stored) : null;
    if (!recorded) {
      return fail({ rowId: head.id, kind: null, batchId: null, problem: 'truncated', detail: 'the chained rows head record is missing' });
    }
    if (recorded.id !== head.id || !recorded.link.equals(head.link)) {
      return fail({
        rowId: recorded.id, kind: null, batchId: null, problem: 'truncated',
        detail: `the chained rows end at row ${head.id} but the last write recorded row ${recorded.id}`,
      });
    }
  }
  for (const [name, kind] of Object.entries(kinds)) {
    const total = kind.countAfter(db, prunedUpToBatch ?? 0n);
    const have = covered.get(name) ?? 0n;
    if (total !== have) {
      return fail({
        rowId: -1n, kind: name, batchId: null, problem: 'extra-rows',
        detail: `${total - have} ${name} row(s) not covered by any chained row`,
      });
    }
  }
  return { ...result, head };
}
