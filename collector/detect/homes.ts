// Home directories by uid, for `~`: from the passwd file of the collector's
// host (for sensors on other hosts, point `passwdFile` at a copy of theirs).
// Read again when a uid is unknown, at most every RELOAD_MS.
import { readFileSync } from 'node:fs';

const RELOAD_MS = 10_000;

export class Homes {
  private homes = new Map<number, string>();
  private loadedAt = 0;

  constructor(private readonly passwdFile = '/etc/passwd') {}

  of(uid: number | null): string | null {
    if (uid === null) return null;
    let home = this.homes.get(uid);
    if (home === undefined && Date.now() - this.loadedAt > RELOAD_MS) {
      this.load();
      home = this.homes.get(uid);
    }
    if (home === undefined) return uid === 0 ? '/root' : null;
    return home === '/' || home === '' || home === '/nonexistent' ? null : home;
  }

  private load(): void {
    this.loadedAt = Date.now();
    let text: string;
    try {
      text = readFileSync(this.passwdFile, 'utf8');
    } catch {
      return;
    }
    const next = new Map<number, string>();
    for (const line of text.split('\n')) {
      const f = line.split(':');
      if (f.length < 7) continue;
      const uid = Number(f[2]);
      if (Number.isInteger(uid) && !next.has(uid)) next.set(uid, f[5]!.replace(/\/+$/, '') || '/');
    }
    this.homes = next;
  }
}
