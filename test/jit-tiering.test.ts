// The long-running commands raise V8's optimisation budget (sensor/cli/jit-tiering.ts):
// a function a short burst runs a few hundred times stays in the baseline
// tiers instead of being handed to TurboFan, and a budget given on node's own
// command line is left as it is.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tuneJitForLongRunning } from '../sensor/cli/jit-tiering.js';

const ROOT = join(__dirname, '..');
const TIERING = join(ROOT, 'dist/sensor/cli/jit-tiering.js');

/** How many times V8 marked `lukewarm` for TurboFan after 1,000 calls, in a fresh node. */
function markedForTurbofan(tune: boolean): number {
  const script = `
    if (${tune}) (await import(${JSON.stringify(TIERING)})).tuneJitForLongRunning();
    function lukewarm(a) { let s = 0; for (let i = 0; i < 8; i++) s += (a * i) & 7; return s; }
    let t = 0;
    for (let n = 0; n < 1000; n++) t += lukewarm(n);
    console.log('sum', t);`;
  const out = execFileSync(process.execPath, ['--trace-opt', '--input-type=module', '-e', script], { encoding: 'utf8' });
  expect(out).toMatch(/^sum \d+$/m); // the loop ran to its end
  return out.split('\n').filter((l) => /marking .*<JSFunction lukewarm /.test(l)).length;
}

describe('V8 tiering of the long-running commands', () => {
  it('a function run 1,000 times is optimised with the default budget, not with the raised one', () => {
    expect(markedForTurbofan(false)).toBe(1);
    expect(markedForTurbofan(true)).toBe(0);
  });

  it('leaves a budget given on node\'s command line alone', () => {
    expect(tuneJitForLongRunning(['--interrupt-budget=1000'])).toBe(false);
    expect(tuneJitForLongRunning(['--interrupt_budget', '1000'])).toBe(false);
  });
});
