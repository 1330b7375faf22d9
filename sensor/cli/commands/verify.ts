// `sensor verify`: walks the store's hash chain; prints OK with counts, or
// the first batch that was altered, deleted or reordered and exits 1.
import type { Command } from 'commander';
import { DEFAULT_STATE_DIR } from '../../../collector/store/schema.js';
import { describeBad, verifyChain } from '../../../collector/store/verify.js';
import { verifyAlertChain } from '../../../collector/store/verify-alerts.js';
import { openStoreReadOnly } from './query.js';

async function runVerify(opts: { stateDir: string }): Promise<void> {
  const store = openStoreReadOnly(opts.stateDir);
  try {
    const r = verifyChain(store.database);
    const from = r.anchorBatchId === null ? 'genesis' : `anchor batch ${r.anchorBatchId} (${r.prunedBatches} batches pruned)`;
    if (r.ok) {
      process.stdout.write(`OK: ${r.batches} batches, ${r.events} events verified from ${from}; head ${r.headLink}\n`);
    } else {
      process.stdout.write(`TAMPERED: ${describeBad(r.firstBad!)}\n` +
        `(${r.batches} batches before it verified from ${from})\n`);
      process.exitCode = 1;
    }
    reportAlertChain(store.database);
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
    process.exitCode = 1;
  }
}

export function register(program: Command): void {
  program
    .command('verify')
    .description('Check the store\'s tamper-evident hash chain; exit 1 naming the first bad batch')
    .option('--state-dir <dir>', 'the collector\'s state directory', DEFAULT_STATE_DIR)
    .action(runVerify);
}
