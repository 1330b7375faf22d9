// How `sensor launch --state-dir D` finds the `sensor run` that owns D when
// --listen put its socket anywhere: run writes its socket address into D
// (root's, 0700) while it runs and removes it when it stops.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const RUN_ADDRESS_FILE = 'sensor-run.address';

export function writeRunAddress(stateDir: string, address: string): void {
  const file = join(stateDir, RUN_ADDRESS_FILE);
  const tmp = `${file}.${process.pid}`;
  writeFileSync(tmp, `${address}\n`, { mode: 0o600 });
  renameSync(tmp, file); // a reader never sees half an address
}

export function readRunAddress(stateDir: string): string | null {
  try {
    const text = readFileSync(join(stateDir, RUN_ADDRESS_FILE), 'utf8').trim();
    return text || null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`cannot read ${join(stateDir, RUN_ADDRESS_FILE)}: ${(err as Error).message}`);
  }
}

/** Removes the file if it still names this run's address (a newer run may have replaced it). */
export function removeRunAddress(stateDir: string, address: string): void {
  if (readRunAddressQuietly(stateDir) === address) rmSync(join(stateDir, RUN_ADDRESS_FILE), { force: true });
}

function readRunAddressQuietly(stateDir: string): string | null {
  try {
    return readRunAddress(stateDir);
  } catch {
    return null;
  }
}
