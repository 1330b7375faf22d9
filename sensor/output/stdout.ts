// Command output on stdout. A reader that goes away (`sensor query | head -1`)
// closes the pipe; like Unix tools, the command then stops quietly instead of
// dying on an unhandled EPIPE with a stack trace. Exit status 0, as ripgrep
// does: the reader had what it wanted.
import { once } from 'node:events';

type ClosedAction = () => void;

let onClosed: ClosedAction = () => process.exit(0);
let installed = false;

/** Installs the one stdout/stderr error handler; every command runs under it (see cli/main.ts). */
export function guardOutput(): void {
  if (installed) return;
  installed = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') return onClosed();
    process.stderr.write(`sensor: cannot write output: ${err.message}\n`);
    process.exit(1);
  });
  // Logs go to stderr; a closed stderr must not turn into a crash either.
  process.stderr.on('error', () => undefined);
}

/** What a closed stdout means for a command that has more to do than exit (watch stops like on Ctrl-C). */
export function whenOutputClosed(action: ClosedAction): void {
  onClosed = action;
}

const YIELD_EVERY = 512;

/**
 * Writes lines with backpressure, giving the event loop a turn now and then:
 * pipe writes on Linux are synchronous and report EPIPE only on the next
 * tick, so a long loop would otherwise format every row for a reader long gone.
 */
export async function writeLines(lines: Iterable<string>): Promise<void> {
  let n = 0;
  for (const line of lines) {
    const ok = process.stdout.write(`${line}\n`);
    if (!ok) await once(process.stdout, 'drain');
    else if (++n % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
  }
}

/** Writes text that is already whole (a table, a status report). */
export function writeOut(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}
