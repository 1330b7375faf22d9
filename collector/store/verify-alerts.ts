// Walks the alert chain (alert-chain.ts) and the stored baselines: names the
// first alert row altered, deleted or reordered, a row whose batch link no
// longer matches the batch chain, a chain cut short, or a baseline whose
// body is not the one last recorded in the chain.
import type Database from 'better-sqlite3';
import { ALERT_GENESIS, alertLink, type AlertChainRow } from './alert-chain.js';
import { baselineDigest, readBaselines } from './detect-rows.js';

export interface AlertVerifyResult {
  ok: boolean;
  rows: number;
  alerts: number;
  baselines: number;
  problem?: string;
}

type Raw = Record<string, bigint | string | Buffer | null>;

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

function rowOf(r: Raw): AlertChainRow {
  return {
    kind: r.kind as AlertChainRow['kind'], alertId: num(r.alert_id), tsNs: r.ts_ns as bigint, sensorId: str(r.sensor_id),
    agent: String(r.agent), agentPid: num(r.agent_pid), pid: num(r.pid), rule: str(r.rule), severity: str(r.severity),
    subject: str(r.subject), summary: str(r.summary), evidence: str(r.evidence), baseline: str(r.baseline),
    count: Number(r.count), batchId: (r.batch_id as bigint | null) ?? null, batchHash: (r.batch_hash as Buffer | null) ?? null,
    createdAt: Number(r.created_at),
  };
}

/** Reads in one transaction, like verifyChain. A store without the tables (no detection ever ran) verifies empty. */
export function verifyAlertChain(db: Database.Database): AlertVerifyResult {
  return db.transaction(() => walk(db))();
}

function walk(db: Database.Database): AlertVerifyResult {
  const result: AlertVerifyResult = { ok: true, rows: 0, alerts: 0, baselines: 0 };
  const has = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alert_chain'`).get();
  const head = db.prepare(`SELECT value FROM meta WHERE key = 'alert_head'`).get() as { value: string } | undefined;
  if (!has) return head ? { ...result, ok: false, problem: 'the alert chain table is gone but its head is recorded' } : result;
  const fail = (problem: string): AlertVerifyResult => ({ ...result, ok: false, problem });
  const batchHash = db.prepare('SELECT hash FROM batches WHERE id = ?').safeIntegers(true);
  const anchor = db.prepare('SELECT batch_id FROM chain_anchor WHERE id = 1').safeIntegers(true).get() as { batch_id: bigint } | undefined;
  const lastDigest = new Map<string, string>();
  let prev: Buffer = ALERT_GENESIS;
  let expected = 1n;
  for (const raw of db.prepare('SELECT * FROM alert_chain ORDER BY id').safeIntegers(true).iterate() as IterableIterator<Raw>) {
    const id = raw.id as bigint;
    if (id !== expected) return fail(`alert row ${expected}${id - 1n > expected ? `..${id - 1n}` : ''} deleted (next is ${id})`);
    if (!Buffer.isBuffer(raw.prev_hash) || !raw.prev_hash.equals(prev)) return fail(`alert row ${id} reordered: prev_hash does not continue the chain`);
    const row = rowOf(raw);
    const link = alertLink(prev, id, row);
    if (!Buffer.isBuffer(raw.hash) || !link.equals(raw.hash)) return fail(`alert row ${id} (${row.kind} ${row.rule ?? row.agent}) altered: it no longer hashes to its link`);
    if (row.batchId !== null) {
      const b = batchHash.get(row.batchId) as { hash: Buffer } | undefined;
      const pruned = anchor !== undefined && row.batchId <= anchor.batch_id;
      if (!b && !pruned) return fail(`alert row ${id} names batch ${row.batchId}, which is missing from the batch chain`);
      if (b && (!row.batchHash || !b.hash.equals(row.batchHash))) return fail(`alert row ${id} is linked to a batch ${row.batchId} that no longer has the recorded link`);
    }
    if (row.kind === 'alert') result.alerts++;
    if (row.kind === 'baseline') lastDigest.set(row.agent, row.baseline ?? '');
    prev = link;
    expected++;
    result.rows++;
  }
  if (head) {
    const [hid, hhex] = head.value.split(':');
    if (BigInt(hid!) !== expected - 1n || hhex !== prev.toString('hex')) {
      return fail(`the alert chain ends at row ${expected - 1n} but the last write recorded row ${hid}`);
    }
  } else if (result.rows > 0) {
    return fail('alert rows exist but no alert head is recorded');
  }
  for (const b of readBaselines(db)) {
    result.baselines++;
    if (baselineDigest(b.state, b.body) !== b.digest) return fail(`baseline of ${b.agent} altered: its body no longer matches its digest`);
    if (lastDigest.get(b.agent) !== b.digest) return fail(`baseline of ${b.agent} is not the one last recorded in the alert chain`);
  }
  return result;
}
