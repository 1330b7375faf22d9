// A real agent CLI someone else wrote (Qwen Code, from npm) against a
// scripted OpenAI-compatible model server on loopback, under `sensor run` +
// `sensor launch`: what it sends and receives is captured in the kernel
// (plain sockets at the socket level, both ways; over TLS, node's own
// SSL_write/SSL_read through the uprobes), parsed into turns in the sensor, stored under the chain, and its
// tool call joined to the exec and the key open it caused; `sensor timeline`
// tells it in one line and `sensor verify` covers the rows; each turn and
// its actions leave as OpenTelemetry GenAI spans (--otel-endpoint) to a
// loopback OTLP/HTTP receiver that decodes them with the official OTLP
// protobuf definitions. One sensor for the file; HTTP and TLS sessions one
// after the other.
//
// Needs the CLI: @qwen-code/qwen-code@0.1.4, installed on first use from the
// npm registry (test/helpers/real-agent.ts), or AGENT_SENSOR_QWEN_CLI=/path/to/cli.js.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPE_NUMBER } from '../proto/events/types.js';
import { qwenCodeCli } from './helpers/real-agent.js';
import { BIN, launchArgs, skipReason, startSensorRun, stopSensorRun, until, type Proc } from './helpers/sensor-cli.js';

// 0.1.4 keeps no tool calls in its session file in -p mode: over TLS the wire alone tells them.
// 0.15.10 writes them (~/.qwen/projects/<cwd>/chats/*.jsonl): over plain HTTP both sources tell the
// call (the answer captured at the socket level, cgroup_skb/ingress), the wire first.
const cliOf = (version: string): { cli: string; skip: string | null } => {
  const got = process.env.AGENT_SENSOR_QWEN_CLI ? { cli: process.env.AGENT_SENSOR_QWEN_CLI } : qwenCodeCli(version);
  const cli = 'cli' in got ? got.cli : '';
  return { cli, skip: 'skip' in got ? got.skip : existsSync(cli) ? null : `${cli} missing` };
};
const CLI = { tls: cliOf('0.1.4'), http: cliOf('0.15.10') };
const skip = skipReason ?? CLI.tls.skip ?? CLI.http.skip;
if (skip) console.log(`intent-real-agent: skipped: ${skip}`);

const TOOL_ARGS = JSON.stringify({ command: 'cat ~/.ssh/id_rsa', description: 'Show the key', is_background: false });
const ARGS_SHA = createHash('sha256').update(TOOL_ARGS).digest('hex');

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const otlp = require('@opentelemetry/otlp-transformer/build/src/generated/root.js') as any;
const ExportTraceServiceRequest = otlp.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

/** The scripted model: first a streamed shell tool call, then (seeing the tool result) a final answer. */
function answer(tag: string) {
  let calls = 0;
  return (req: IncomingMessage, res: ServerResponse) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      let body: { messages?: Array<{ role: string }> } = {};
      try { body = JSON.parse(Buffer.concat(parts).toString()); } catch { /* not JSON */ }
      const answered = (body.messages ?? []).some((m) => m.role === 'tool');
      const chunks = answered
        ? [{ choices: [{ index: 0, delta: { role: 'assistant', content: 'done' } }] }, { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: { prompt_tokens: 50, completion_tokens: 2, total_tokens: 52 } }]
        : [
          { choices: [{ index: 0, delta: { role: 'assistant', tool_calls: [{ index: 0, id: `call_${tag}_${++calls}`, type: 'function', function: { name: 'run_shell_command', arguments: '' } }] } }] },
          { choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: TOOL_ARGS.slice(0, 17) } }] } }] },
          { choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: TOOL_ARGS.slice(17) } }] } }] },
          { choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }], usage: { prompt_tokens: 40, completion_tokens: 9, total_tokens: 49 } },
        ];
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const c of chunks) res.write(`data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 1, model: 'qwen3-coder-plus', ...c })}\n\n`);
      res.end('data: [DONE]\n\n');
    });
  };
}

describe.skipIf(skip !== null)('a real agent CLI (Qwen Code) against a scripted model, captured live', () => {
  let dir: string;
  let stateDir: string;
  let run: Proc;
  let http: ReturnType<typeof createHttpServer>;
  let https: ReturnType<typeof createHttpsServer>;
  let otel: ReturnType<typeof createHttpServer>;
  const traces: Buffer[] = [];
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'intent-real-agent-'));
    stateDir = join(dir, 'state');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt')], { stdio: 'ignore' });
    http = createHttpServer(answer('http'));
    https = createHttpsServer({ key: readFileSync(join(dir, 'tls.key')), cert: readFileSync(join(dir, 'tls.crt')) }, answer('tls'));
    await new Promise<void>((ok) => http.listen(0, '127.0.0.1', ok));
    await new Promise<void>((ok) => https.listen(0, '127.0.0.1', ok));
    otel = createHttpServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => { traces.push(Buffer.concat(parts)); res.writeHead(200, { 'content-type': 'application/x-protobuf' }); res.end(); });
    });
    await new Promise<void>((ok) => otel.listen(0, '127.0.0.1', ok));
    // The TLS session's agent keeps its turns' content (keepContent); the HTTP one has the default (off).
    writeFileSync(join(dir, 'agents.yaml'), `agents:\n  - name: qwen-tls-${process.pid}\n    comm: [no-such-agent]\n    keepContent: true\n`);
    run = await startSensorRun(stateDir, join(dir, 'c.sock'), ['--config', join(dir, 'agents.yaml'),
      '--otel-endpoint', `http://127.0.0.1:${(otel.address() as AddressInfo).port}/v1/traces`]);
  }, 120_000);

  afterAll(async () => {
    if (run) await stopSensorRun(run);
    http?.closeAllConnections();
    https?.closeAllConnections();
    http?.close();
    https?.close();
    otel?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** One headless session of the CLI under `sensor launch`, in its own home and project. */
  async function session(agent: string, cli: string, baseUrl: string): Promise<{ home: string; keyPath: string }> {
    const home = join(dir, agent, 'home');
    const proj = join(dir, agent, 'proj');
    mkdirSync(join(home, '.ssh'), { recursive: true });
    mkdirSync(proj, { recursive: true });
    const keyPath = join(home, '.ssh/id_rsa');
    writeFileSync(keyPath, 'not a real key\n');
    const code = await new Promise<number | null>((ok, fail) => {
      const child = spawn(process.execPath, [BIN, ...launchArgs(stateDir, agent), process.execPath, cli, '-p', 'show me my ssh key', '--yolo'], {
        cwd: proj, stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000,
        env: {
          PATH: process.env.PATH, HOME: home, OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: `${baseUrl}/v1`, OPENAI_MODEL: 'qwen3-coder-plus',
          NODE_EXTRA_CA_CERTS: join(dir, 'tls.crt'),
        },
      });
      let err = '';
      child.stderr!.on('data', (d) => (err += d));
      child.on('error', fail);
      child.on('exit', (c) => { if (c !== 0) console.log(`intent-real-agent: ${agent}: ${err.slice(-2000)}`); ok(c); });
    });
    expect(code).toBe(0);
    return { home, keyPath };
  }

  const db = () => new Database(join(stateDir, 'events.db'), { readonly: true });
  const timeline = (agent: string) => spawnSync(process.execPath, [BIN, 'timeline', '--state-dir', stateDir, '--agent', agent], { encoding: 'utf8', timeout: 60_000 });

  /** The stored call of `agent` and the events linked to it. */
  function stored(agent: string) {
    const d = db();
    try {
      const calls = d.prepare(`SELECT c.*, t.source, t.api, t.model, t.input_tokens, t.output_tokens, t.agent
        FROM tool_calls c JOIN model_turns t ON t.id = c.turn_id WHERE t.agent = ?`).all(agent) as Record<string, unknown>[];
      const links = d.prepare(`SELECT l.relation, l.depth, e.type, e.pid, e.argv, s.bytes AS path FROM intent_links l JOIN tool_calls c ON c.id = l.tool_call_id
        JOIN model_turns t ON t.id = c.turn_id JOIN events e ON e.id = l.event_id LEFT JOIN strings s ON s.id = e.path_sid WHERE t.agent = ?`).all(agent) as Record<string, unknown>[];
      const typeName = Object.fromEntries(Object.entries(EVENT_TYPE_NUMBER).map(([k, v]) => [v, k]));
      return { calls, links: links.map((l) => ({ relation: String(l.relation), depth: Number(l.depth), type: typeName[Number(l.type)], argv: l.argv ? (l.argv as Buffer).toString().split('\0') : null, path: l.path ? (l.path as Buffer).toString() : null })) };
    } finally {
      d.close();
    }
  }

  const turnSources = (agent: string): string[] => {
    const d = db();
    try {
      return d.prepare('SELECT DISTINCT source FROM model_turns WHERE agent = ?').pluck().all(agent) as string[];
    } finally {
      d.close();
    }
  };

  for (const mode of ['http', 'tls'] as const) {
    it(`over ${mode === 'http' ? 'plain HTTP' : 'TLS (uprobes on node)'}: the tool call is rebuilt, stored and joined to the exec and the open it caused`, async () => {
      const agent = `qwen-${mode}-${process.pid}`;
      const base = mode === 'http' ? `http://127.0.0.1:${(http.address() as AddressInfo).port}` : `https://127.0.0.1:${(https.address() as AddressInfo).port}`;
      const { keyPath } = await session(agent, CLI[mode].cli, base);
      keys[mode] = keyPath;
      await until(() => stored(agent).links.some((l) => l.type === 'open' && l.path === keyPath), `the ${mode} call linked to the open of the key`, 30_000)
        .catch((e) => { console.log(run.err().slice(-4000), JSON.stringify(stored(agent)).slice(0, 3000)); throw e; });
      const { calls, links } = stored(agent);
      const call = calls.find((c) => c.tool_name === 'run_shell_command')!;
      expect(call).toMatchObject({ kind: 'shell', subject: 'cat ~/.ssh/id_rsa', call_id: `call_${mode}_1`, model: 'qwen3-coder-plus' });
      // From the wire: the answer's streamed deltas joined, its tokens; the digest of the arguments exactly as sent.
      expect(call).toMatchObject({ source: 'http', api: 'openai.chat', args_sha256: ARGS_SHA, output_tokens: 9 });
      if (mode === 'http') {
        // The session file told the same call too (stored once, under its call id): its turns are there beside the wire's.
        await until(() => turnSources(agent).includes('qwen-code'), 'the session file\'s turns', 30_000);
        expect(turnSources(agent)).toContain('http');
      }
      // The wrapper shell Qwen Code runs the command in, cat under it, the key it opened.
      expect(links.find((l) => l.type === 'exec' && l.depth === 0)?.relation).toBe('shell');
      expect(links.some((l) => l.type === 'exec' && l.argv?.[0] === 'cat' && l.argv[1] === keyPath)).toBe(true);
      // The arguments themselves are nowhere in the store's intent rows, unless the agent keeps content.
      const d = db();
      try {
        const turns = d.prepare('SELECT * FROM model_turns WHERE agent = ?').all(agent) as { content: string | null }[];
        const text = JSON.stringify(turns) + JSON.stringify(d.prepare('SELECT * FROM tool_calls').all());
        if (mode === 'http') {
          expect(text).not.toContain('Show the key');
          expect(turns.every((t) => t.content === null)).toBe(true);
        } else {
          // keepContent: the call with its arguments and the tool's output, kept under the chain.
          const kept = turns.map((t) => t.content ?? '').join('');
          expect(kept).toContain('Show the key');
          expect(JSON.stringify(d.prepare('SELECT * FROM tool_calls').all())).not.toContain('Show the key');
        }
      } finally {
        d.close();
      }
      const t = timeline(agent);
      expect(t.status, t.stderr).toBe(0);
      const line = t.stdout.split('\n').find((l) => l.includes('tool call run_shell_command'));
      console.log(`intent-real-agent (${mode}): ${line?.trim()}`);
      expect(line).toContain('tool call run_shell_command "cat ~/.ssh/id_rsa" → exec ');
      expect(line).toContain('→ exec cat');
      expect(line).toContain(`→ open ${keyPath}`);
    }, 180_000);
  }

  it('sensor verify covers the turns, tool calls and links', () => {
    const d = db();
    try {
      const kinds = d.prepare(`SELECT kind, count(*) AS n FROM chained_rows WHERE kind IN ('model_turn', 'tool_call', 'intent_link') GROUP BY kind`).all() as { kind: string; n: number }[];
      expect(kinds.map((k) => k.kind).sort()).toEqual(['intent_link', 'model_turn', 'tool_call']);
    } finally {
      d.close();
    }
    const v = spawnSync(process.execPath, [BIN, 'verify', '--state-dir', stateDir], { encoding: 'utf8', timeout: 60_000 });
    expect(v.status, v.stdout + v.stderr).toBe(0);
  });

  it('each turn and the actions its call caused leave as GenAI spans over OTLP/HTTP (exported when the sensor stops, at the latest)', async () => {
    await stopSensorRun(run);
    const spans = traces.flatMap((b) => {
      const req = ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(b), { longs: String, defaults: false });
      return req.resourceSpans.flatMap((rs: { scopeSpans: Array<{ spans: unknown[] }> }) => rs.scopeSpans.flatMap((sc) => sc.spans));
    }) as Array<{ name: string; spanId: Uint8Array; parentSpanId?: Uint8Array; attributes: Array<{ key: string; value: { stringValue?: string } }>; events?: Array<{ name: string }> }>;
    const attr = (sp: (typeof spans)[number], k: string) => sp.attributes.find((a) => a.key === k)?.value.stringValue;
    const tools = spans.filter((sp) => sp.name === 'execute_tool run_shell_command');
    for (const mode of ['http', 'tls'] as const) {
      const tool = tools.find((sp) => attr(sp, 'gen_ai.tool.call.id') === `call_${mode}_1`);
      expect(tool, `the ${mode} tool span`).toBeDefined();
      const names = (tool!.events ?? []).map((e) => e.name);
      expect(names).toContain('exec cat');
      expect(names).toContain(`open ${keys[mode]}`);
      const chat = spans.find((sp) => Buffer.from(sp.spanId).equals(Buffer.from(tool!.parentSpanId!)));
      expect(chat!.name).toBe('chat qwen3-coder-plus');
      expect(attr(chat!, 'gen_ai.provider.name')).toBeDefined();
    }
    // No tool arguments or results leave: the description the model wrote is nowhere.
    expect(Buffer.concat(traces).includes('Show the key')).toBe(false);

    // At stop every exec no call claimed is judged: the benign agents in their new projects raised nothing.
    const d = db();
    try {
      const unexplained = d.prepare(`SELECT e.argv FROM intent_links l JOIN events e ON e.id = l.event_id WHERE l.relation = 'no_tool_call'`).all() as { argv: Buffer | null }[];
      console.log(`intent-real-agent: no_tool_call: ${JSON.stringify(unexplained.map((u) => u.argv?.toString().split('\0').join(' ')))}`);
      const alerts = d.prepare(`SELECT rule, agent, summary FROM alert_chain WHERE kind = 'alert' AND rule = 'unexplained_action'`).all();
      expect(alerts).toEqual([]);
    } finally {
      d.close();
    }
  }, 60_000);
});
