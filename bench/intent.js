#!/usr/bin/env node
// Throughput of the intent layer (user space, no kernel): captured HTTP with
// SSE model answers → turns (MiB/s of captured bytes, in 1 KiB chunks), and
// events through the intent joiner (events/s with pending tool calls). Not
// wired into `npm run bench` yet (the lead adds it with the capture); run
// `node bench/intent.js` after `bash scripts/build.sh`.
import { readFileSync } from 'node:fs';
import { ContentStreams } from '../dist/collector/intent/content-streams.js';
import { IntentJoiner } from '../dist/collector/intent/join/intent-joiner.js';
import { intentCallOf } from '../dist/collector/intent/join/intent-call.js';
import { emptyTurn, toolCall } from '../dist/collector/intent/turn.js';

const FIX = new URL('../test/fixtures/intent/', import.meta.url).pathname;
const reqBody = readFileSync(FIX + 'openai-chat-request.json');
const sse = readFileSync(FIX + 'openai-chat-stream.sse');
const request = Buffer.concat([Buffer.from(`POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nContent-Type: application/json\r\nContent-Length: ${reqBody.length}\r\n\r\n`), reqBody]);
const chunked = (b) => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]);
const response = Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n'), ...sse.toString().split('\n\n').filter(Boolean).map((e) => chunked(Buffer.from(e + '\n\n'))), Buffer.from('0\r\n\r\n')]);

function http(turnsWanted) {
  const s = new ContentStreams();
  const off = { egress: 0, ingress: 0 };
  let bytes = 0, turns = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < turnsWanted; i++) {
    for (const [dir, buf] of [['egress', request], ['ingress', response]]) {
      for (let at = 0; at < buf.length; at += 1024) {
        const data = buf.subarray(at, at + 1024);
        turns += s.chunk({ connKey: 'c', direction: dir, tsMs: i, pid: 1, streamOffset: off[dir], data, missing: 0 }).length;
        off[dir] += data.length; bytes += data.length;
      }
    }
  }
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  return { turns, mib: bytes / 1048576, sec };
}

function join(events) {
  const j = new IntentJoiner();
  const turn = emptyTurn('http', 'openai');
  for (let i = 0; i < 200; i++) j.addCall(intentCallOf(turn, toolCall('run_shell_command', JSON.stringify({ command: `cat /tmp/f${i} | wc -l` }), `c${i}`), { tsMs: 0, agent: 'a' }));
  let links = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < events; i++) {
    const k = i % 4;
    const ev = k === 0 ? { id: i, type: 'exec', tsMs: i / 100, pid: 1000 + i, ppid: 1, agent: 'a', argv: ['cat', `/tmp/f${i % 400}`] }
      : k === 1 ? { id: i, type: 'fork', tsMs: i / 100, pid: 2000 + i, ppid: 999 + i, agent: 'a' }
      : { id: i, type: 'open', tsMs: i / 100, pid: 1000 + i - k, ppid: 1, agent: 'a', path: `/tmp/f${i % 400}`, access: 'read' };
    links += j.event(ev).length;
    if (i % 10_000 === 0) links += j.flush(i / 100).length;
  }
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  return { links, events, sec };
}

const h = http(Number(process.env.INTENT_TURNS ?? 20_000));
console.log(`intent http+sse → turns: ${(h.mib / h.sec).toFixed(1)} MiB/s, ${(h.turns / h.sec).toFixed(0)} turns/s (${h.turns} turns, ${h.mib.toFixed(1)} MiB in 1 KiB chunks)`);
const j = join(Number(process.env.INTENT_EVENTS ?? 200_000));
console.log(`intent join: ${(j.events / j.sec / 1000).toFixed(0)}k events/s with 200 pending shell calls (${j.links} links)`);
