// The plaintext reconstruction of the intent layer: HTTP/1.1 requests and
// answers rebuilt from bounded, possibly cut captures, then read as model
// API turns (OpenAI Chat and Responses, Anthropic Messages, Gemini), with
// SSE streams whose tool-call deltas are split at arbitrary byte positions.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { HttpConnection, type HttpExchange } from '../collector/intent/http/http-connection.js';
import { HttpMessageParser } from '../collector/intent/http/http-message-parser.js';
import { decodeBody } from '../collector/intent/http/body-decoding.js';
import { parseSse } from '../collector/intent/http/sse.js';
import { turnOfExchange } from '../collector/intent/model-api/recognise-turn.js';

const FIX = new URL('./fixtures/intent/', import.meta.url).pathname;
const fixture = (name: string) => readFileSync(FIX + name);

function request(path: string, body: Buffer, host = 'api.example.test', extra = ''): Buffer {
  return Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n${extra}Content-Length: ${body.length}\r\n\r\n`), body]);
}

/** A chunked answer whose chunk boundaries fall wherever `cuts` says. */
function chunkedResponse(body: Buffer, type: string, cuts: number[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: ${type}\r\nTransfer-Encoding: chunked\r\n\r\n`)];
  let at = 0;
  for (const c of [...cuts.filter((x) => x > 0 && x < body.length).sort((a, b) => a - b), body.length]) {
    if (c <= at) continue;
    parts.push(Buffer.from(`${(c - at).toString(16)}\r\n`), body.subarray(at, c), Buffer.from('\r\n'));
    at = c;
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

function fixedResponse(body: Buffer, type = 'application/json', extra = ''): Buffer {
  return Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: ${type}\r\n${extra}Content-Length: ${body.length}\r\n\r\n`), body]);
}

/** Deterministic PRNG (mulberry32) so a failing split can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function splits(buf: Buffer, rand: () => number, max = 40): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < buf.length;) {
    const n = 1 + Math.floor(rand() * max);
    out.push(buf.subarray(at, at + n));
    at += n;
  }
  return out;
}

function exchange(req: Buffer, res: Buffer, seed = 1): HttpExchange[] {
  const conn = new HttpConnection();
  const rand = rng(seed);
  const out: HttpExchange[] = [];
  for (const p of splits(req, rand)) out.push(...conn.clientBytes(p));
  for (const p of splits(res, rand)) out.push(...conn.serverBytes(p));
  out.push(...conn.close());
  return out;
}

describe('HTTP/1.1 from captured plaintext', () => {
  it('pairs several keep-alive requests with their answers in order, any split', () => {
    const reqs = Buffer.concat([
      Buffer.from('GET /a HTTP/1.1\r\nHost: h\r\n\r\n'),
      request('/b', Buffer.from('{"x":1}')),
      Buffer.from('HEAD /c HTTP/1.1\r\nHost: h\r\n\r\n'),
    ]);
    const ress = Buffer.concat([
      Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'),
      fixedResponse(Buffer.from('aaa'), 'text/plain'),
      chunkedResponse(Buffer.from('hello world'), 'text/plain', [3, 7]),
      Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n'), // HEAD: no body follows
      fixedResponse(Buffer.from(''), 'text/plain'),
    ]);
    for (let seed = 1; seed <= 25; seed++) {
      const ex = exchange(reqs, ress, seed);
      expect(ex.map((e) => [e.request.method, e.request.target, e.response?.body.toString()])).toEqual([
        ['GET', '/a', 'aaa'], ['POST', '/b', 'hello world'], ['HEAD', '/c', ''],
      ]);
      expect(ex[1].request.body.toString()).toBe('{"x":1}');
      expect(ex.every((e) => !e.request.incomplete && !e.response!.incomplete)).toBe(true);
    }
  });

  it('a cut inside a Content-Length body skips by count and keeps the next request', () => {
    const p = new HttpMessageParser('request');
    const body = Buffer.from('{"model":"m","pad":"' + 'x'.repeat(1000) + '"}');
    const whole = request('/v1/chat/completions', body);
    // The kernel kept the first 300 bytes of the write and counted the rest.
    let msgs = p.push(whole.subarray(0, 300), { missing: whole.length - 300 });
    msgs = msgs.concat(p.push(request('/next', Buffer.from('{}'))));
    expect(msgs.map((m) => [m.target, m.incomplete])).toEqual([['/v1/chat/completions', true], ['/next', false]]);
    expect(msgs[0].bodyDroppedBytes).toBe(whole.length - 300);
    expect(p.stats.missingBytes).toBe(whole.length - 300);
  });

  it('a cut inside a head drops that message and resynchronises on the next start line', () => {
    const p = new HttpMessageParser('request');
    const first = request('/one', Buffer.from('{}'));
    const msgs = [
      ...p.push(first.subarray(0, 20), { missing: first.length - 20 }),
      ...p.push(Buffer.from('garbage\r\nmore garbage ')),
      ...p.push(request('/two', Buffer.from('{"ok":1}'))),
    ];
    expect(msgs.map((m) => m.target)).toEqual(['/two']);
    expect(p.stats.dropped).toBe(1);
    expect(p.stats.skippedBytes).toBeGreaterThan(0);
  });

  it('bounds memory: oversized heads, endless chunk lines and huge bodies are dropped and counted', () => {
    const p = new HttpMessageParser('request', { limits: { maxHeadBytes: 1024, maxBodyBytes: 100, maxResyncBytes: 512 } });
    expect(p.push(Buffer.from('POST /x HTTP/1.1\r\nX: ' + 'a'.repeat(5000)))).toEqual([]);
    expect(p.stats.dropped).toBe(1);
    const big = p.push(request('/big', Buffer.alloc(10_000, 0x41)));
    expect(big).toHaveLength(1);
    expect(big[0].body.length).toBe(100);
    expect(big[0].bodyDroppedBytes).toBe(9_900);
    expect(big[0].incomplete).toBe(true);
    const q = new HttpMessageParser('response');
    expect(q.push(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' + 'f'.repeat(4000)))).toEqual([]);
    expect(q.stats.dropped).toBe(1);
  });

  it('never throws on hostile bytes (random, near-HTTP, invalid UTF-8, NULs)', () => {
    const rand = rng(7);
    const seeds = [
      Buffer.from('POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n'),
      Buffer.from('POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n'),
      Buffer.from('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'),
      Buffer.from('HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\n\xff\xfe\x00\x01', 'latin1'),
      Buffer.from('GET \x00\xff HTTP/1.1\r\n\r\n', 'latin1'),
      Buffer.from('POST /v1/messages HTTP/1.1\r\nContent-Length: 3\r\n\r\n{"a'),
    ];
    for (let i = 0; i < 300; i++) {
      const conn = new HttpConnection({ maxBodyBytes: 4096 });
      const junk = Buffer.alloc(1 + Math.floor(rand() * 600));
      for (let j = 0; j < junk.length; j++) junk[j] = Math.floor(rand() * 256);
      const mix = Buffer.concat([seeds[i % seeds.length], junk, seeds[(i + 1) % seeds.length]]);
      const out: HttpExchange[] = [];
      expect(() => {
        for (const part of splits(mix, rand, 64)) {
          out.push(...conn.clientBytes(part, rand() < 0.05 ? Math.floor(rand() * 100) : 0));
          out.push(...conn.serverBytes(part));
        }
        out.push(...conn.close(false));
        for (const e of out) turnOfExchange(e);
      }).not.toThrow();
    }
  });

  it('undoes gzip within a bound and reports a bomb as partial', () => {
    const text = Buffer.from('{"hello":"world"}');
    expect(decodeBody(gzipSync(text), 'gzip').bytes.toString()).toBe(text.toString());
    const bomb = gzipSync(Buffer.alloc(20 * 1024 * 1024));
    const d = decodeBody(bomb, 'gzip', 1024 * 1024);
    expect(d.ok).toBe(false);
    expect(d.partial).toBe(true);
    expect(decodeBody(Buffer.from('nope'), 'zstd-unknown').ok).toBe(false);
  });

  it('splits SSE into events and says when the last one was cut', () => {
    const { events, complete } = parseSse('event: a\ndata: 1\ndata: 2\n\n: comment\ndata: 3\r\n\r\ndata: 4');
    expect(events).toEqual([{ event: 'a', data: '1\n2' }, { event: 'message', data: '3' }, { event: 'message', data: '4' }]);
    expect(complete).toBe(false);
  });
});

describe('model API turns', () => {
  it('OpenAI Chat Completions stream: tool-call deltas joined across any split', () => {
    const sse = fixture('openai-chat-stream.sse');
    for (let seed = 1; seed <= 20; seed++) {
      const rand = rng(seed);
      const cuts = Array.from({ length: 12 }, () => Math.floor(rand() * sse.length));
      const [ex] = exchange(request('/v1/chat/completions', fixture('openai-chat-request.json'), 'api.openai.com'), chunkedResponse(sse, 'text/event-stream; charset=utf-8', cuts), seed);
      const turn = turnOfExchange(ex)!;
      expect(turn).toMatchObject({ api: 'openai.chat', provider: 'openai', model: 'gpt-4.1', responseModel: 'gpt-4.1-2025-04-14', stream: true, inputTokens: 1843, outputTokens: 57, incomplete: false });
      expect(turn.toolCalls).toEqual([
        { id: 'call_Ab12', name: 'run_shell_command', arguments: '{"command": "cat ~/.ssh/id_rsa"}', input: { command: 'cat ~/.ssh/id_rsa' } },
        { id: 'call_Cd34', name: 'read_file', arguments: '{"path":"/etc/hostname"}', input: { path: '/etc/hostname' } },
      ]);
      expect(turn.toolResults).toEqual([{ callId: 'call_0', content: 'id_rsa\nid_rsa.pub\nknown_hosts' }]);
      expect(turn.finishReasons).toEqual(['tool_calls']);
    }
  });

  it('OpenAI Chat Completions, not streamed, gzip answer', () => {
    const answer = { id: 'chatcmpl-1', model: 'deepseek-chat', choices: [{ index: 0, finish_reason: 'tool_calls', message: { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'write_file', arguments: '{"path":"/tmp/x","content":"y"}' } }] } }], usage: { prompt_tokens: 10, completion_tokens: 5 } };
    const [ex] = exchange(request('/chat/completions', Buffer.from('{"model":"deepseek-chat","messages":[]}'), 'api.deepseek.com'), fixedResponse(gzipSync(Buffer.from(JSON.stringify(answer))), 'application/json', 'Content-Encoding: gzip\r\n'));
    const turn = turnOfExchange(ex)!;
    expect(turn).toMatchObject({ provider: 'deepseek', model: 'deepseek-chat', inputTokens: 10, outputTokens: 5, incomplete: false });
    expect(turn.toolCalls[0]).toMatchObject({ id: 'c1', name: 'write_file', input: { path: '/tmp/x', content: 'y' } });
  });

  it('OpenAI Responses stream (Codex shell call) and the function_call_output sent back', () => {
    const sse = fixture('responses-stream.sse');
    for (let seed = 1; seed <= 10; seed++) {
      const rand = rng(seed);
      const cuts = Array.from({ length: 8 }, () => Math.floor(rand() * sse.length));
      const [ex] = exchange(request('/v1/responses', fixture('responses-request.json'), 'chatgpt.com'), chunkedResponse(sse, 'text/event-stream', cuts), seed);
      const turn = turnOfExchange(ex)!;
      expect(turn).toMatchObject({ api: 'openai.responses', model: 'gpt-5-codex', responseId: 'resp_68a1', inputTokens: 5120, outputTokens: 212, incomplete: false });
      expect(turn.toolCalls).toEqual([{ id: 'call_shell_1', name: 'shell', arguments: '{"command":["bash","-lc","cat ~/.ssh/id_rsa"],"workdir":"/home/u/proj"}', input: { command: ['bash', '-lc', 'cat ~/.ssh/id_rsa'], workdir: '/home/u/proj' } }]);
      expect(turn.toolResults).toEqual([{ callId: 'call_prev', content: '{"output":".ssh\\n","metadata":{"exit_code":0}}' }]);
    }
  });

  it('Anthropic Messages stream: input_json_delta pieces make the tool_use input', () => {
    const sse = fixture('anthropic-stream.sse');
    for (let seed = 1; seed <= 10; seed++) {
      const rand = rng(seed);
      const cuts = Array.from({ length: 10 }, () => Math.floor(rand() * sse.length));
      const [ex] = exchange(request('/v1/messages?beta=true', fixture('anthropic-request.json'), 'api.anthropic.com'), chunkedResponse(sse, 'text/event-stream', cuts), seed);
      const turn = turnOfExchange(ex)!;
      expect(turn).toMatchObject({ api: 'anthropic.messages', provider: 'anthropic', model: 'claude-sonnet-4-5', responseModel: 'claude-sonnet-4-5-20250929', inputTokens: 2417, outputTokens: 89, incomplete: false, finishReasons: ['tool_use'] });
      expect(turn.toolCalls).toEqual([{ id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'Bash', arguments: '{"command": "bash -lc \'cat ~/.ssh/id_rsa\'", "description": "Show the key"}', input: { command: "bash -lc 'cat ~/.ssh/id_rsa'", description: 'Show the key' } }]);
      expect(turn.toolResults).toEqual([{ callId: 'toolu_prev', content: 'Host *\n  IdentityFile ~/.ssh/id_rsa' }]);
    }
  });

  it('Gemini streamGenerateContent: model from the path, functionCall and functionResponse', () => {
    const [ex] = exchange(request('/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse', fixture('gemini-request.json'), 'generativelanguage.googleapis.com'), chunkedResponse(fixture('gemini-stream.sse'), 'text/event-stream', [100, 400]));
    const turn = turnOfExchange(ex)!;
    expect(turn).toMatchObject({ api: 'gemini.generate_content', provider: 'gcp.gemini', model: 'gemini-2.5-pro', stream: true, inputTokens: 9021, outputTokens: 31, finishReasons: ['STOP'], incomplete: false });
    expect(turn.toolCalls).toEqual([{ name: 'run_shell_command', arguments: '{"command":"cat ~/.ssh/id_rsa","description":"print key"}', input: { command: 'cat ~/.ssh/id_rsa', description: 'print key' } }]);
    expect(turn.toolResults).toEqual([{ name: 'read_file', content: '{"output":"Host *"}' }]);
  });

  it('Gemini through Code Assist wraps request and response', () => {
    const body = Buffer.from(JSON.stringify({ model: 'gemini-2.5-flash', project: 'p', request: JSON.parse(fixture('gemini-request.json').toString()) }));
    const answer = { response: { candidates: [{ content: { role: 'model', parts: [{ functionCall: { id: 'fc-1', name: 'write_file', args: { file_path: '/tmp/a' } } }] }, finishReason: 'STOP' }], usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 4 } } };
    const [ex] = exchange(request('/v1internal:generateContent', body, 'cloudcode-pa.googleapis.com'), fixedResponse(Buffer.from(JSON.stringify(answer))));
    const turn = turnOfExchange(ex)!;
    expect(turn).toMatchObject({ model: 'gemini-2.5-flash', inputTokens: 3, outputTokens: 4 });
    expect(turn.toolCalls).toEqual([{ id: 'fc-1', name: 'write_file', arguments: '{"file_path":"/tmp/a"}', input: { file_path: '/tmp/a' } }]);
  });

  it('a stream cut by the capture keeps the calls before the cut and marks the turn incomplete', () => {
    const sse = fixture('openai-chat-stream.sse');
    const res = chunkedResponse(sse, 'text/event-stream', [200, 900]);
    const conn = new HttpConnection();
    const out = conn.clientBytes(request('/v1/chat/completions', fixture('openai-chat-request.json')));
    const keep = res.length - 700;
    out.push(...conn.serverBytes(res.subarray(0, keep), 700), ...conn.close(false));
    expect(out).toHaveLength(1);
    const [ex] = out;
    const turn = turnOfExchange(ex)!;
    expect(turn.incomplete).toBe(true);
    expect(turn.toolCalls[0].name).toBe('run_shell_command');
    expect(turn.toolCalls.every((c) => c.incomplete)).toBe(true);
  });

  it('other traffic is not a turn', () => {
    const [ex] = exchange(Buffer.from('GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\n\r\n'), fixedResponse(Buffer.from('{}')));
    expect(turnOfExchange(ex)).toBeUndefined();
    // A chat app's /api/messages is not Anthropic's Messages API.
    const [chat] = exchange(request('/api/messages', Buffer.from('{"channel":"general","text":"hi"}'), 'chat.example.test'), fixedResponse(Buffer.from('{"ok":true}')));
    expect(turnOfExchange(chat)).toBeUndefined();
  });
});
