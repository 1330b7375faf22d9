// Captured content chunks per (connection, direction) to model turns: the
// record stream the kernel capture will produce, with lost records (offset
// jumps), per-write cuts, an exhausted per-connection budget and a bounded
// number of live streams.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ContentStreams, type ContentChunk } from '../collector/intent/content-streams.js';

const FIX = new URL('./fixtures/intent/', import.meta.url).pathname;
const reqBody = readFileSync(FIX + 'anthropic-request.json');
const sse = readFileSync(FIX + 'anthropic-stream.sse');
const request = Buffer.concat([Buffer.from(`POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\nContent-Type: application/json\r\nContent-Length: ${reqBody.length}\r\n\r\n`), reqBody]);
const response = Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: ${sse.length}\r\n\r\n`), sse]);

/** The chunks a capture would emit for `bytes` written in writes of `size`, cut at `perWrite`. */
function writes(connKey: string, direction: 'egress' | 'ingress', bytes: Buffer, size: number, t: number, startOffset = 0, perWrite = Infinity): ContentChunk[] {
  const out: ContentChunk[] = [];
  for (let at = 0; at < bytes.length; at += size) {
    const w = bytes.subarray(at, at + size);
    const kept = Math.min(w.length, perWrite);
    out.push({ connKey, direction, tsMs: t + at, pid: 77, agentPid: 70, agent: 'claude', streamOffset: startOffset + at, data: w.subarray(0, kept), missing: w.length - kept, remote: '160.79.104.10:443' });
  }
  return out;
}

describe('content streams', () => {
  it('keep-alive turns on one connection, each with the time of its request', () => {
    const s = new ContentStreams();
    const turns = [
      ...writes('c1', 'egress', request, 700, 1000), ...writes('c1', 'ingress', response, 333, 2000),
      ...writes('c1', 'egress', request, 4096, 5000, request.length), ...writes('c1', 'ingress', response, 97, 6000, response.length),
    ].flatMap((c) => s.chunk(c));
    expect(turns).toHaveLength(2);
    expect(turns.map((t) => [t.turn.toolCalls[0].name, t.startMs, t.agentPid, t.remote, t.turn.sessionId, t.turn.incomplete])).toEqual([
      ['Bash', 1000, 70, '160.79.104.10:443', 'c1', false], ['Bash', 5000, 70, '160.79.104.10:443', 'c1', false],
    ]);
    expect(turns[0].turn.ts).toBe(new Date(1000).toISOString());
  });

  it('a lost record (offset jump) and a per-write cut make that turn incomplete, not the next', () => {
    const s = new ContentStreams();
    const first = writes('c2', 'egress', request, 200, 0);
    const [lost] = first.splice(2, 1); // the ring buffer lost the third write
    const chunks = [
      ...first, ...writes('c2', 'ingress', response, 500, 100),
      ...writes('c2', 'egress', request, 4096, 200, request.length), ...writes('c2', 'ingress', response, 256, 300, response.length, 200),
      ...writes('c2', 'egress', request, 4096, 400, 2 * request.length), ...writes('c2', 'ingress', response, 4096, 500, 2 * response.length),
    ];
    const turns = chunks.flatMap((c) => s.chunk(c));
    expect(s.stats.gapBytes).toBe(lost.data.length);
    expect(turns.map((t) => t.turn.incomplete)).toEqual([true, true, false]);
    expect(turns[2].turn.toolCalls[0].input).toEqual({ command: "bash -lc 'cat ~/.ssh/id_rsa'", description: 'Show the key' });
  });

  it('an exhausted connection budget ends the stream with what was captured', () => {
    const s = new ContentStreams();
    const res = writes('c3', 'ingress', response, 400, 10);
    res[1].budgetExhausted = true;
    const turns = [...writes('c3', 'egress', request, 9000, 0), res[0], res[1]].flatMap((c) => s.chunk(c));
    expect(turns).toHaveLength(1);
    expect(turns[0].turn.incomplete).toBe(true);
    expect(s.size).toBe(0);
  });

  it('an agent answering on its own server socket is read the other way round', () => {
    const s = new ContentStreams();
    const turns = [...writes('srv', 'ingress', request, 9000, 0), ...writes('srv', 'egress', response, 9000, 1)].flatMap((c) => s.chunk(c));
    expect(turns.map((t) => t.turn.toolCalls[0]?.name)).toEqual(['Bash']);
  });

  it('bounds live streams and idle time', () => {
    const s = new ContentStreams({ maxStreams: 3, idleMs: 1000 });
    for (let i = 0; i < 10; i++) s.chunk(writes(`k${i}`, 'egress', request, 100, i)[0]);
    expect(s.size).toBe(3);
    expect(s.stats.streamsEvicted).toBe(7);
    expect(s.expire(10_000)).toEqual([]);
    expect(s.size).toBe(0);
  });
});
