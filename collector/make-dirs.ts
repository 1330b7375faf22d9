// mkdir -p with a mode, one level at a time. Node's own recursive mkdirSync
// never returns for a path under /proc (a read-only pseudo file system that
// answers ENOENT to mkdir), so a mistyped --state-dir would hang the
// collector instead of failing with a message.
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

export function makeDirs(dir: string, mode: number): void {
  try {
    if (statSync(dir).isDirectory()) return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const parent = dirname(dir);
  if (parent !== dir) makeDirs(parent, mode);
  try {
    mkdirSync(dir, { mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}
