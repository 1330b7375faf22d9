// Batches the sensor still held unacked when it stopped are lost with the
// process; so that the loss is not silent, their count is kept in a small
// file in the sensor's state dir and sent with the next run's first batch
// (EventBatch.undelivered). The file is removed once that batch is acked.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface UndeliveredRecord {
  bootId: string;
  events: number;
  batches: number;
}

const MAX_RECORDS = 64;

export function readUndelivered(path: string): UndeliveredRecord[] {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (!Array.isArray(parsed)) return [];
    return parsed.filter((r): r is UndeliveredRecord =>
      !!r && typeof r.bootId === 'string' && Number.isSafeInteger(r.events) && Number.isSafeInteger(r.batches)).slice(-MAX_RECORDS);
  } catch {
    return [];
  }
}

/** Replaces the file with these records (atomically: write, then rename); none: removes it. */
export function writeUndelivered(path: string, records: UndeliveredRecord[]): void {
  if (records.length === 0) {
    rmSync(path, { force: true });
    return;
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(records.slice(-MAX_RECORDS))}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}
