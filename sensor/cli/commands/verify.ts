// `sensor verify`: walks the store's hash chain; prints OK with counts, or
// the first batch that was altered, deleted or reordered and exits 1.
// Exit statuses: 0 intact, 1 TAMPERED, 2 the store cannot be opened (or a
// usage error): a script can tell "altered" from "not there".
// On success it prints the head, the batch count and the anchor on one
// `export:` line: keep that line outside the store (log, SIEM) and pass the
// head back later with --expect, which fails if that batch is gone or its
// link differs (a truncated or rebuilt chain).
import type { Command } from 'commander';
import { DEFAULT_STATE_DIR } from '../../../collector/store/schema.js';
import { describeBad, verifyChain } from '../../../collector/store/verify.js';
import { verifyAlertChain } from '../../../collector/store/verify-alerts.js';
import { verifyResponses } from '../../../collector/store/response-log.js';
import { openStoreReadOnly } from '../open-store.js';

/** verify's own exit status for a broken chain; 0 and 2 are shared (../exit-codes.ts) */
export const EXIT_TAMPERED = 1;

async function runVerify(opts: { stateDir: string; expect?: string }): Promise<void> {
  const store = openStoreReadOnly(opts.stateDir);
  try {
    const r = verifyChain(store.database, { expected: opts.expect });
    const from = r.anchorBatchId === null ? 'genesis' : `anchor batch ${r.anchorBatchId} (${r.prunedBatches} batches pruned)`;
    if (r.ok) {
      process.stdout.write(`OK: ${r.batches} batches, ${r.events} events verified from ${from}; head ${r.headLink}\n` +
        `export: head=${r.head} batches=${r.batches} anchor=${r.anchor} chained-rows=${r.rows} rows-head=${r.rowsHead}\n`);
    } else {
      process.stdout.write(`TAMPERED: ${describeBad(r.firstBad!)}\n` +
        `(${r.batches} batches before it verified from ${from})\n`);
      process.exitCode = EXIT_TAMPERED;
    }
    reportAlertChain(store.database);
    reportResponses(store.database);
  } finally {
    await store.close();
  }
}

/** The alert chain and baselines (collector/store/verify-alerts.ts), after the batch chain. */
function reportAlertChain(db: Parameters<typeof verifyAlertChain>[0]): void {
  const a = verifyAlertChain(db);
  if (a.ok) {
    if (a.rows === 0) return; // no detection ever wrote: nothing to report
    process.stdout.write(`OK: ${a.alerts} alerts, ${a.baselines} baselines (${a.rows} alert chain rows) verified\n`);
  } else {
    process.stdout.write(`TAMPERED: ${a.problem}\n(${a.rows} alert chain rows before it verified)\n`);
    process.exitCode = EXIT_TAMPERED;
  }
}

/** The containment actions' chain (collector/store/response-log.ts). */
function reportResponses(db: Parameters<typeof verifyResponses>[0]): void {
  const r = verifyResponses(db);
  if (r.ok) {
    if (r.rows > 0) process.stdout.write(`OK: ${r.rows} containment actions verified; head ${r.head}\n`);
  } else {
    process.stdout.write(`TAMPERED: containment actions: ${r.problem ?? `row ${r.firstBad}`}\n`);
    process.exitCode = EXIT_TAMPERED;
  }
}

export function register(program: Command): void {
  program
    .command('verify')
    .description('Check the store\'s tamper-evident hash chain. Exit 0: intact; 1: TAMPERED, naming the first bad batch; 2: the store (events.db) cannot be opened')
    .option('--state-dir <dir>', 'the collector\'s state directory', DEFAULT_STATE_DIR)
    .option('--expect <head>', 'a head printed by an earlier verify (<batch id>:<link>); fail unless that batch is still in the chain with that link')
    .action(runVerify);
}
