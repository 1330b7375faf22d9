// A real agent CLI someone else wrote (Qwen Code, from npm) against a
// scripted OpenAI-compatible model server on loopback. What the agent sends
// and receives passes a recording relay (standing in for the kernel content
// capture, which is not wired yet) into the intent layer; its own session
// file is read as a second source; and on the live sensor the tool call is
// joined to the exec and the key open it caused.
//
// Needs the CLI: @qwen-code/qwen-code@0.1.4, installed on first use from the
// npm registry (test/helpers/real-agent.ts), or AGENT_SENSOR_QWEN_CLI=/path/to/cli.js.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ContentStreams, type CapturedTurn } from '../collector/intent/content-streams.js';
import { actionOfEvent } from '../collector/intent/join/action-event.js';
import { intentCallOf } from '../collector/intent/join/intent-call.js';
import { IntentJoiner, type IntentLink } from '../collector/intent/join/intent-joiner.js';
import { formatIntentLine } from '../collector/intent/join/timeline-line.js';
import { discoverTranscripts, TranscriptPoller } from '../collector/intent/transcripts/transcript-sources.js';
import { agent, kernelSkipReason, startSensor, waitForEvents, type RecordingSensor } from './helpers/kernel.js';
import { qwenCodeCli } from './helpers/real-agent.js';

// 0.1.x writes its session as one JSON file (the format read below); installed
// on first use into node_modules/.cache like the other real-agent tests.
const installed = process.env.AGENT_SENSOR_QWEN_CLI ? { cli: process.env.AGENT_SENSOR_QWEN_CLI } : qwenCodeCli('0.1.4');
const CLI = 'cli' in installed ? installed.cli : '';
const cliSkip = 'skip' in installed ? installed.skip : existsSync(CLI) ? null : `${CLI} missing`;
if (cliSkip) console.log(`intent-real-agent: skipped: ${cliSkip}`);
const kernelSkip = kernelSkipReason();
const work = mkdtempSync(join(tmpdir(), 'intent-real-agent-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const TOOL_ARGS = JSON.stringify({ command: 'cat ~/.ssh/id_rsa', description: 'Show the key', is_background: false });

/** The scripted model: first a shell tool call, then (seeing the tool result) a final answer. */
function modelServer() {
  let calls = 0;
  return createHttpServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      let body: { stream?: boolean; messages?: Array<{ role: string }> } = {};
      try { body = JSON.parse(Buffer.concat(parts).toString()); } catch { /* not JSON */ }
      const answered = (body.messages ?? []).some((m) => m.role === 'tool');
      const chunks = answered
        ? [{ choices: [{ index: 0, delta: { role: 'assistant', content: 'done' } }] }, { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: { prompt_tokens: 50, completion_tokens: 2, total_tokens: 52 } }]
        : [
          { choices: [{ index: 0, delta: { role: 'assistant', tool_calls: [{ index: 0, id: `call_real_${++calls}`, type: 'function', function: { name: 'run_shell_command', arguments: '' } }] } }] },
          { choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: TOOL_ARGS.slice(0, 17) } }] } }] },
          { choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: TOOL_ARGS.slice(17) } }] } }] },
          { choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }], usage: { prompt_tokens: 40, completion_tokens: 9, total_tokens: 49 } },
        ];
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const c of chunks) res.write(`data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 1, model: 'qwen3-coder-plus', ...c })}\n\n`);
      res.end('data: [DONE]\n\n');
    });
  });
}

describe.skipIf(cliSkip !== null)('a real agent CLI (Qwen Code) against a scripted model', () => {
  it('its tool call is rebuilt from the wire, its session file read, and the call joined to the exec and open it caused', async () => {
    const home = join(work, 'home');
    const proj = join(work, 'proj');
    mkdirSync(join(home, '.ssh'), { recursive: true });
    mkdirSync(proj);
    const keyPath = join(home, '.ssh/id_rsa');
    writeFileSync(keyPath, 'not a real key\n');
    const model = modelServer();
    await new Promise<void>((ok) => model.listen(0, '127.0.0.1', ok));
    const captured: CapturedTurn[] = [];
    const streams = new ContentStreams();
    let conns = 0;
    const relay = createTcpServer((client) => {
      const key = `c${++conns}`;
      const off = { egress: 0, ingress: 0 };
      const up = connect((model.address() as AddressInfo).port, '127.0.0.1');
      const rec = (direction: 'egress' | 'ingress', data: Buffer) => {
        captured.push(...streams.chunk({ connKey: key, direction, tsMs: Date.now(), pid: 0, streamOffset: off[direction], data, missing: 0 }));
        off[direction] += data.length;
      };
      client.on('data', (d: Buffer) => { rec('egress', d); up.write(d); });
      up.on('data', (d: Buffer) => { rec('ingress', d); client.write(d); });
      client.on('close', () => { captured.push(...streams.close(key)); up.destroy(); });
      up.on('close', () => client.destroy());
      client.on('error', () => up.destroy());
      up.on('error', () => client.destroy());
    });
    await new Promise<void>((ok) => relay.listen(0, '127.0.0.1', ok));
    let rec: RecordingSensor | undefined;
    if (kernelSkip) console.log(`intent-real-agent: join part skipped: ${kernelSkip}`);
    else rec = await startSensor([agent('qwen', { argv: ['**/@qwen-code/qwen-code/cli.js'] })]);
    try {
      const t0 = Date.now();
      const code = await new Promise<number | null>((ok, fail) => {
        const child = spawn(process.execPath, [CLI, '-p', 'show me my ssh key', '--yolo'], {
          cwd: proj, stdio: ['ignore', 'ignore', 'ignore'], timeout: 120_000,
          env: { PATH: process.env.PATH, HOME: home, OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: `http://127.0.0.1:${(relay.address() as AddressInfo).port}/v1`, OPENAI_MODEL: 'qwen3-coder-plus' },
        });
        child.on('error', fail);
        child.on('exit', ok);
      });
      expect(code).toBe(0);
      await new Promise((r) => setTimeout(r, 200));

      // 1. From the wire: the call, whole, and its result sent back on the next turn.
      const turns = captured.map((c) => c.turn);
      const asked = turns.find((t) => t.toolCalls.length > 0)!;
      expect(asked).toMatchObject({ api: 'openai.chat', model: 'qwen3-coder-plus', stream: true, inputTokens: 40, outputTokens: 9, incomplete: false });
      expect(asked.toolCalls).toEqual([{ id: 'call_real_1', name: 'run_shell_command', arguments: TOOL_ARGS, input: JSON.parse(TOOL_ARGS) }]);
      const answered = turns.find((t) => t.toolResults.some((r) => r.callId === 'call_real_1'))!;
      expect(answered.toolResults[0].content).toContain('not a real key');

      // 2. From its own session file (Qwen Code 0.1.x: tokens per answer, no calls in -p mode).
      const uid = process.getuid?.() ?? 0;
      const files = discoverTranscripts(home, uid);
      expect(files.map((f) => f.format)).toContain('qwen-code-json');
      const fromFile = new TranscriptPoller(uid).poll(files);
      expect(fromFile.errors).toEqual([]);
      expect(fromFile.turns.some((t) => t.source === 'qwen-code' && t.model === 'qwen3-coder-plus' && t.inputTokens === 50)).toBe(true);

      // 3. On the live sensor: the call joined to the exec and the open it caused.
      if (rec) {
        await waitForEvents(rec.events, (evs) => evs.some((e) => e.type === 'open' && e.path === keyPath), 10_000, 'the open of the key');
        const joiner = new IntentJoiner({ homeOf: () => home });
        const actions = rec.events.map((e, i) => actionOfEvent(i + 1, e));
        const links: IntentLink[] = [];
        for (const a of actions) links.push(...joiner.event(a));
        const call = intentCallOf(asked, asked.toolCalls[0], { tsMs: captured.find((c) => c.turn === asked)!.endMs, agent: 'qwen', home })!;
        links.push(...joiner.addCall(call));
        const byId = new Map(actions.map((a) => [a.id, a]));
        const mine = links.filter((l) => l.callKey === call.key).map((l) => ({ l, a: byId.get(l.eventId)! }));
        // The wrapper shell Qwen Code runs the command in, then cat under it.
        expect(mine.find(({ a }) => a.type === 'exec')!.l.relation).toBe('shell');
        expect(mine.some(({ a }) => a.type === 'exec' && a.argv?.[0] === 'cat' && a.argv?.[1] === keyPath)).toBe(true);
        expect(mine.some(({ l, a }) => l.relation === 'open' && a.path === keyPath)).toBe(true);
        const line = formatIntentLine(call.toolName, call.subject, mine.filter(({ a }) => a.type === 'exec' || (a.type === 'open' && a.path === keyPath))
          .map(({ a }) => ({ kind: a.type as 'exec' | 'open', text: a.type === 'exec' ? a.argv![0] : a.path! })));
        console.log(`intent-real-agent: ${line}`);
        expect(line).toContain(`tool call run_shell_command "cat ~/.ssh/id_rsa"`);
        expect(line).toContain(`open ${keyPath}`);
        void t0;
      }
    } finally {
      await rec?.stop();
      await new Promise<void>((ok) => relay.close(() => ok()));
      model.closeAllConnections();
      await new Promise<void>((ok) => model.close(() => ok()));
    }
  }, 180_000);
});
