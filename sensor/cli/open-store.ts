// Opening the collector's store read-only for `sensor query` and `sensor
// verify`, with a message that names the file (events.db) and says what is
// wrong with it in words, and the exit status of "could not start" (2), never
// the tamper status of verify (1).
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { EventStore } from '../../collector/store/event-store.js';
import { DB_FILE_NAME } from '../../collector/store/schema.js';
import { CliError, EXIT_USAGE } from './exit-codes.js';

export class StoreOpenError extends CliError {
  constructor(message: string) {
    super(message, EXIT_USAGE);
  }
}

function whyNot(stateDir: string, file: string): string | null {
  try {
    statSync(stateDir);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? `${stateDir} does not exist` : (err as Error).message;
  }
  try {
    const st = statSync(file);
    if (!st.isFile()) return `${file} is not a file`;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT'
      ? `no ${DB_FILE_NAME} in ${stateDir} (is this the collector's --state-dir?)`
      : (err as Error).message;
  }
  return null;
}

export function openStoreReadOnly(stateDir: string): EventStore {
  const file = join(stateDir, DB_FILE_NAME);
  const missing = whyNot(stateDir, file);
  if (missing) throw new StoreOpenError(`cannot open the event store ${file}: ${missing}`);
  try {
    return EventStore.open({ stateDir, readonly: true });
  } catch (err) {
    throw new StoreOpenError(`cannot open the event store ${file}: ${(err as Error).message}`);
  }
}
