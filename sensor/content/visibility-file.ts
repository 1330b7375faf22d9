// Which agents' TLS content the running sensor can see, kept in the state dir
// (egress-content.json) so `sensor status --state-dir` can say it per agent:
// "egress content: not visible" where the agent's program exports no
// SSL_write/SSL_read (rustls, Bun, Go) rather than pretend.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TlsVisibilityNote } from './egress-content.js';

export const VISIBILITY_FILE = 'egress-content.json';
const MAX_NOTES = 256;

export function writeVisibility(stateDir: string, notes: TlsVisibilityNote[]): void {
  const path = join(stateDir, VISIBILITY_FILE);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ updatedAt: new Date().toISOString(), notes: notes.slice(-MAX_NOTES) })}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

export function readVisibility(stateDir: string): TlsVisibilityNote[] | undefined {
  try {
    const v = JSON.parse(readFileSync(join(stateDir, VISIBILITY_FILE), 'utf8')) as { notes?: TlsVisibilityNote[] };
    return Array.isArray(v.notes) ? v.notes : undefined;
  } catch {
    return undefined;
  }
}

/** One line per agent and program; control characters escaped (names come from processes). */
export function renderVisibility(notes: TlsVisibilityNote[]): string {
  const esc = (s: string) => JSON.stringify(String(s)).slice(1, -1);
  if (!notes.length) return 'egress content: no agent program seen yet';
  return notes.map((n) => n.visible
    ? `egress content: visible for agent ${esc(n.agent)} (${esc(n.exe)}): TLS through ${n.targets.map(esc).join(', ')}`
    : `egress content: not visible for agent ${esc(n.agent)} (${esc(n.exe)}): no SSL_write/SSL_read; plain sockets only`).join('\n');
}
