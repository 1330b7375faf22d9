// Real HTTP stacks on loopback: Node's fetch (undici) talks to a node:http
// model server through a TCP relay that records each direction's bytes as
// they flow, in whatever segments the sockets deliver, and feeds them to the
// intent layer as the kernel capture would. Two keep-alive requests on one
// connection: an SSE stream whose tool-call deltas are written one event per
// write, and a gzip'd JSON answer.
import { Agent, createServer as createHttpServer, request as httpRequest } from 'node:http';
import { createServer as createTcpServer, connect, type AddressInfo, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContentStreams, type CapturedTurn } from '../collector/intent/content-streams.js';

const captured: CapturedTurn[] = [];
const streams = new ContentStreams({ limits: { maxBodyBytes: 1 << 20 } });
let connections = 0;

const SSE_EVENTS = [
  { id: 'c1', model: 'qwen3-coder-plus', choices: [{ index: 0, delta: { role: 'assistant' } }] },
  { id: 'c1', model: 'qwen3-coder-plus', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: 'call_w1', type: 'function', function: { name: 'run_shell_command', arguments: '' } }] } }] },
  { id: 'c1', model: 'qwen3-coder-plus', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"command":"cat ' } }] } }] },
  { id: 'c1', model: 'qwen3-coder-plus', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '~/.ssh/id_rsa"}' } }] } }] },
  { id: 'c1', model: 'qwen3-coder-plus', choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }], usage: { prompt_tokens: 321, completion_tokens: 12 } },
];

const model = createHttpServer((req, res) => {
  const parts: Buffer[] = [];
  req.on('data', (c: Buffer) => parts.push(c));
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(parts).toString());
    if (body.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let i = 0;
      const next = () => {
        if (i < SSE_EVENTS.length) { res.write(`data: ${JSON.stringify(SSE_EVENTS[i++])}\n\n`); setTimeout(next, 5); }
        else res.end('data: [DONE]\n\n');
      };
      next();
    } else {
      const answer = { id: 'c2', model: 'qwen3-coder-plus', choices: [{ index: 0, finish_reason: 'tool_calls', message: { role: 'assistant', tool_calls: [{ id: 'call_w2', type: 'function', function: { name: 'read_file', arguments: '{"absolute_path":"/etc/hostname"}' } }] } }], usage: { prompt_tokens: 400, completion_tokens: 9 } };
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(gzipSync(JSON.stringify(answer)));
    }
  });
});

/** A relay that records what passes, like the capture would on the agent's socket. */
const relay = createTcpServer((client: Socket) => {
  const key = `relay-${++connections}`;
  const off = { egress: 0, ingress: 0 };
  const upstream = connect((model.address() as AddressInfo).port, '127.0.0.1');
  const record = (direction: 'egress' | 'ingress', data: Buffer) => {
    captured.push(...streams.chunk({ connKey: key, direction, tsMs: Date.now(), pid: process.pid, streamOffset: off[direction], data, missing: 0 }));
    off[direction] += data.length;
  };
  client.on('data', (d: Buffer) => { record('egress', d); upstream.write(d); });
  upstream.on('data', (d: Buffer) => { record('ingress', d); client.write(d); });
  client.on('end', () => upstream.end());
  upstream.on('end', () => client.end());
  client.on('close', () => { captured.push(...streams.close(key)); upstream.destroy(); });
  upstream.on('error', () => client.destroy());
  client.on('error', () => upstream.destroy());
});

beforeAll(async () => {
  await new Promise<void>((ok) => model.listen(0, '127.0.0.1', ok));
  await new Promise<void>((ok) => relay.listen(0, '127.0.0.1', ok));
});
afterAll(async () => {
  await new Promise<void>((ok) => relay.close(() => ok()));
  model.closeAllConnections();
  await new Promise<void>((ok) => model.close(() => ok()));
});

describe('captured plaintext from real HTTP stacks', () => {
  it('fetch: a streamed and a gzip turn, tool calls whole', async () => {
    const url = `http://127.0.0.1:${(relay.address() as AddressInfo).port}/compatible-mode/v1/chat/completions`;
    const post = (stream: boolean) => fetch(url, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
      body: JSON.stringify({ model: 'qwen3-coder-plus', stream, messages: [{ role: 'user', content: 'look at my key' }] }),
    }).then((r) => r.text());
    await post(true);
    await post(false);
    await new Promise((r) => setTimeout(r, 50));
    console.log(`intent-wire: ${connections} connection(s)`);
    const turns = captured.map((c) => c.turn);
    expect(turns).toHaveLength(2);
    expect(turns[0]).toMatchObject({ api: 'openai.chat', model: 'qwen3-coder-plus', stream: true, inputTokens: 321, outputTokens: 12, incomplete: false, finishReasons: ['tool_calls'] });
    expect(turns[0].toolCalls).toEqual([{ id: 'call_w1', name: 'run_shell_command', arguments: '{"command":"cat ~/.ssh/id_rsa"}', input: { command: 'cat ~/.ssh/id_rsa' } }]);
    expect(turns[1]).toMatchObject({ stream: false, inputTokens: 400, incomplete: false });
    expect(turns[1].toolCalls[0]).toMatchObject({ id: 'call_w2', name: 'read_file', input: { absolute_path: '/etc/hostname' } });
  });

  it('node:http keep-alive: both turns from one connection, in order', async () => {
    captured.length = 0;
    const before = connections;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const port = (relay.address() as AddressInfo).port;
    const post = (stream: boolean) => new Promise<string>((ok, fail) => {
      const body = JSON.stringify({ model: 'qwen3-coder-plus', stream, messages: [] });
      const req = httpRequest({ host: '127.0.0.1', port, path: '/v1/chat/completions', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => ok(Buffer.concat(parts).toString('latin1')));
      });
      req.on('error', fail);
      req.end(body);
    });
    await Promise.all([post(true), post(false)]);
    agent.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(connections - before).toBe(1);
    expect(captured.map((c) => [c.connKey, c.turn.toolCalls[0]?.id, c.turn.incomplete])).toEqual([
      [`relay-${before + 1}`, 'call_w1', false], [`relay-${before + 1}`, 'call_w2', false],
    ]);
  });
});
