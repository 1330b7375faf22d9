// The home directory of an event's uid, for PathContext.home: `~` in the
// catalogue also matches /root and /home/<user>, so this matters for homes
// elsewhere (/var/lib/<service>, /srv/users/<name>). Read from /etc/passwd
// (the collector runs on the watched host when embedded; a remote collector
// should pass the sensor's own table instead), re-read when it changes.
import { readFileSync, statSync } from 'node:fs';

/** uid -> home from passwd(5) text; malformed lines are skipped. */
export function parsePasswd(text: string): Map<number, string> {
  const homes = new Map<number, string>();
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || line.startsWith('#')) continue;
    const uid = Number(f[2]);
    if (Number.isInteger(uid) && uid >= 0 && f[5].startsWith('/') && !homes.has(uid)) homes.set(uid, f[5]);
  }
  return homes;
}

export class UserHomes {
  private homes = new Map<number, string>();
  private mtimeMs = -1;

  constructor(private readonly passwdPath = '/etc/passwd') {}

  /** The uid's home, or undefined when the table does not know it (or cannot be read). */
  homeOf(uid: number): string | undefined {
    try {
      const m = statSync(this.passwdPath).mtimeMs;
      if (m !== this.mtimeMs) {
        this.homes = parsePasswd(readFileSync(this.passwdPath, 'utf8'));
        this.mtimeMs = m;
      }
    } catch {
      // keep the last table read
    }
    return this.homes.get(uid);
  }
}
