// The one-line story of a tool call on `sensor timeline` and in alert
// evidence: tool call run_shell_command "cat ~/.ssh/id_rsa" → exec cat →
// open /home/u/.ssh/id_rsa → alert secret_read. Untrusted text (commands,
// paths) is escaped so a newline or a terminal escape cannot forge a line.

export interface TimelineStep {
  kind: 'exec' | 'open' | 'connect' | 'alert';
  /** exec: argv[0] or filename; open: path; connect: host or addr:port; alert: rule */
  text: string;
}

const MAX_SUBJECT = 120;

export function formatIntentLine(toolName: string | null, subject: string | null, steps: TimelineStep[]): string {
  const head = toolName === null ? 'no tool call' : `tool call ${escape(toolName)} ${JSON.stringify(bounded(subject ?? ''))}`;
  const seen = new Set<string>();
  const parts = [head];
  for (const s of steps) {
    const label = s.kind === 'exec' ? `exec ${escape(basename(s.text))}` : `${s.kind} ${escape(s.text)}`;
    // A tree that opens the same file fifty times tells it once.
    if (seen.has(label)) continue;
    seen.add(label);
    parts.push(label);
  }
  return parts.join(' → ');
}

function basename(p: string): string {
  const i = p.lastIndexOf('/');
  return i >= 0 && i < p.length - 1 ? p.slice(i + 1) : p;
}

function bounded(s: string): string {
  return s.length > MAX_SUBJECT ? s.slice(0, MAX_SUBJECT - 1) + '…' : s;
}

/** Control characters and backslashes as \xNN escapes; the rest unchanged. */
function escape(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f-\x9f\\]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
