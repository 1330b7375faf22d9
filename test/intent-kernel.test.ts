// The intent join on real kernel events: an "agent" (a bash copy with its own
// comm) runs what two shell tool calls asked for, the way agents do
// (`bash -lc "<command>"`), plus one command nobody asked for. The live
// sensor's exec/fork/open events are fed to the joiner as the collector would.
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { actionOfEvent } from '../collector/intent/join/action-event.js';
import { intentCallOf } from '../collector/intent/join/intent-call.js';
import { IntentJoiner, type IntentLink } from '../collector/intent/join/intent-joiner.js';
import { emptyTurn, toolCall } from '../collector/intent/turn.js';
import { agent, kernelSkipReason, run, startSensor, waitForEvents } from './helpers/kernel.js';

const skip = kernelSkipReason();
if (skip) console.log(`intent-kernel: skipped: ${skip}`);
const work = mkdtempSync(join(tmpdir(), 'intent-kernel-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.skipIf(skip !== null)('intent join on the live sensor', () => {
  it('joins each shell tool call to its exec, the process tree and the key open; the stray ls has no tool call', async () => {
    const home = join(work, 'home');
    mkdirSync(join(home, '.ssh'), { recursive: true });
    writeFileSync(join(home, '.ssh/id_rsa'), 'not a real key\n');
    const agentBin = join(work, 'as-intent-agt');
    copyFileSync('/bin/bash', agentBin);
    chmodSync(agentBin, 0o755);
    const rec = await startSensor([agent('intent', { comm: ['as-intent-agt'] })]);
    try {
      const t0 = Date.now();
      const script = 'HOME="$1"; export HOME; bash -lc "cat ~/.ssh/id_rsa" >/dev/null; bash -lc "cat ~/.ssh/id_rsa | base64" >/dev/null; ls / >/dev/null';
      const ran = await run(agentBin, ['-c', script, 'agent', home]);
      expect(ran.code).toBe(0);
      await waitForEvents(rec.events, (evs) => evs.some((e) => e.type === 'exec' && e.argv[0] === 'ls'), 10_000, 'the exec of ls');
      const turn = emptyTurn('gemini-cli', 'gcp.gemini');
      turn.sessionId = 'kernel';
      const ctx = { tsMs: t0, agent: 'intent', home };
      const one = intentCallOf(turn, toolCall('run_shell_command', JSON.stringify({ command: 'cat ~/.ssh/id_rsa' }), 'call-1'), ctx)!;
      const two = intentCallOf(turn, toolCall('run_shell_command', JSON.stringify({ command: 'cat ~/.ssh/id_rsa | base64' }), 'call-2'), ctx)!;
      const joiner = new IntentJoiner({ homeOf: () => home });
      const links: IntentLink[] = [...joiner.addCall(one), ...joiner.addCall(two)];
      const actions = rec.events.map((e, i) => actionOfEvent(i + 1, e));
      for (const a of actions) links.push(...joiner.event(a));
      links.push(...joiner.flush(Date.now() + 120_000));
      const byId = new Map(actions.map((a) => [a.id, a]));
      const show = (key: string | null) => links.filter((l) => l.callKey === key).map((l) => {
        const a = byId.get(l.eventId)!;
        return `${l.relation}:${a.type === 'exec' ? a.argv!.join(' ') : a.path ?? a.addr}`;
      });
      const keyPath = join(home, '.ssh/id_rsa');
      const first = show(one.key);
      expect(first[0]).toBe('shell:bash -lc cat ~/.ssh/id_rsa');
      expect(first).toContain(`descendant:cat ${keyPath}`);
      expect(first).toContain(`open:${keyPath}`);
      const second = show(two.key);
      expect(second[0]).toBe('shell:bash -lc cat ~/.ssh/id_rsa | base64');
      expect(second).toContain(`descendant:cat ${keyPath}`);
      expect(second).toContain('descendant:base64');
      expect(second).toContain(`open:${keyPath}`);
      // The pipeline's commands run in forked children: one generation down.
      expect(links.find((l) => l.callKey === two.key && byId.get(l.eventId)!.argv?.[0] === 'base64')!.depth).toBe(1);
      const unexplained = show(null);
      expect(unexplained).toContain('no_tool_call:ls /');
      // The agent's own start has no tool call either; what the calls ran does.
      expect(unexplained.filter((s) => /^no_tool_call:(bash|cat|base64)\b/.test(s))).toEqual([]);
      expect(unexplained.length).toBeLessThanOrEqual(2);
    } finally {
      await rec.stop();
    }
  }, 60_000);
});
