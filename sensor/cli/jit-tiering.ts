// How eagerly V8 optimises the sensor's code, for the commands that run for
// days (`run`, `watch`, `collector`).
//
// An agent session is a burst of a few thousand events. With V8's default
// budget, every function those events touch a few times is handed to the
// optimising compiler (TurboFan) on a helper thread, and the less common
// paths of a session (a connect, a shell, a new rule) deoptimise it and it is
// compiled again. Measured on Codex sessions (bench/agents.js, 2 warm
// sessions): V8's and libuv's threads spent 0.19–0.21 s per session, as
// much as the store worker's own work, all of it on the core beside the
// agent. With the budget 8 × the default, 0.04–0.07 s: a function is
// optimised only once it has run 8 times as much bytecode. Under a real burst
// (100k opens a second) the hot functions reach that in milliseconds; the
// embedded collector's peak ingest rate was 8 % lower in the same runs.
//
// The budget is read each time V8 resets a function's counter, so setting it
// at start-up covers the main thread and every worker started after it.
import { setFlagsFromString } from 'node:v8';

/** V8's default `--interrupt-budget` in Node 20 (V8 11.3): 66 KiB of bytecode between tiering checks. */
const DEFAULT_INTERRUPT_BUDGET = 66 * 1024;
export const LONG_RUNNING_INTERRUPT_BUDGET = 8 * DEFAULT_INTERRUPT_BUDGET;

/** Tunes V8 for a long-running sensor process, unless node was started with its own budget. */
export function tuneJitForLongRunning(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((a) => /^--interrupt[-_]budget(=|$)/.test(a))) return false;
  setFlagsFromString(`--interrupt-budget=${LONG_RUNNING_INTERRUPT_BUDGET}`);
  return true;
}
