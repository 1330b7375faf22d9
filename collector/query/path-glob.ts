// `sensor query --path GLOB` in SQL: a function on the connection that
// applies the glob dialect of argv rules (proto/events/glob.ts) to the stored
// bytes of a string. SQLite's own GLOB would let '*' cross '/'.
import type Database from 'better-sqlite3';
import { globText, globToRegExp } from '../../proto/events/glob.js';

export const PATH_GLOB_SQL = 'as_path_glob';

const registered = new WeakSet<Database.Database>();

export function registerPathGlob(db: Database.Database): void {
  if (registered.has(db)) return;
  const compiled = new Map<string, RegExp>();
  db.function(PATH_GLOB_SQL, { deterministic: true }, (pattern: unknown, bytes: unknown) => {
    if (typeof pattern !== 'string' || !Buffer.isBuffer(bytes)) return 0;
    let re = compiled.get(pattern);
    if (!re) {
      if (compiled.size > 64) compiled.clear();
      compiled.set(pattern, (re = globToRegExp(pattern)));
    }
    return re.test(globText(bytes)) ? 1 : 0;
  });
  registered.add(db);
}
