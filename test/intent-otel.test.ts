// GenAI spans through the official OpenTelemetry OTLP/HTTP exporter, received
// by a loopback OTLP/HTTP endpoint and decoded with the official OTLP
// protobuf definitions (the protobufjs code generated from opentelemetry-proto
// that @opentelemetry/otlp-transformer ships).
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenAiSpanExporter } from '../collector/intent/otel/genai-span-export.js';
import { emptyTurn, toolCall } from '../collector/intent/turn.js';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const otlp = require('@opentelemetry/otlp-transformer/build/src/generated/root.js') as any;
const ExportTraceServiceRequest = otlp.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

interface Received { path: string; headers: IncomingHttpHeaders; body: Buffer }
const received: Received[] = [];
const server = createServer((req, res) => {
  const parts: Buffer[] = [];
  req.on('data', (c: Buffer) => parts.push(c));
  req.on('end', () => {
    received.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(parts) });
    res.writeHead(200, { 'content-type': 'application/x-protobuf' });
    res.end(); // an empty ExportTraceServiceResponse
  });
});
let url = '';
beforeAll(async () => {
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
});
afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

type Attr = { key: string; value: Record<string, unknown> };
function attrs(list: Attr[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of list) {
    const v = a.value;
    out[a.key] = v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.boolValue ?? (v.arrayValue as { values: Array<{ stringValue: string }> })?.values.map((x) => x.stringValue);
  }
  return out;
}

describe('OpenTelemetry GenAI export', () => {
  it('a turn becomes a chat span with execute_tool children and their actions, over OTLP/HTTP protobuf', async () => {
    const exporter = new GenAiSpanExporter({ url, headers: { 'x-tenant': 't1' } });
    const turn = emptyTurn('http', 'anthropic');
    Object.assign(turn, { api: 'anthropic.messages', model: 'claude-sonnet-4-5', responseModel: 'claude-sonnet-4-5-20250929', responseId: 'msg_01', inputTokens: 2417, outputTokens: 89, finishReasons: ['tool_use'], sessionId: 'conn-7' });
    turn.toolCalls.push(toolCall('Bash', '{"command":"cat ~/.ssh/id_rsa"}', 'toolu_1'));
    const t0 = 1_765_000_000_000;
    exporter.export({
      turn, startMs: t0, endMs: t0 + 900, agent: 'claude-code', agentPid: 4242,
      tools: [{ call: turn.toolCalls[0], tsMs: t0 + 1000, actions: [
        { kind: 'exec', relation: 'shell', eventId: 11, tsMs: t0 + 1010, pid: 4300, text: 'bash' },
        { kind: 'open', relation: 'open', eventId: 12, tsMs: t0 + 1020, pid: 4300, text: '/home/u/.ssh/id_rsa' },
      ] }],
    });
    await exporter.forceFlush();
    await exporter.shutdown();
    expect(received).toHaveLength(1);
    const [r] = received;
    expect(r.path).toBe('/v1/traces');
    expect(r.headers['content-type']).toBe('application/x-protobuf');
    expect(r.headers['x-tenant']).toBe('t1');
    const req = ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(r.body), { longs: String, defaults: false });
    expect(attrs(req.resourceSpans[0].resource.attributes)['service.name']).toBe('agent-sensor');
    const spans = req.resourceSpans.flatMap((rs: { scopeSpans: Array<{ spans: unknown[] }> }) => rs.scopeSpans.flatMap((s) => s.spans)) as Array<Record<string, any>>;
    expect(spans).toHaveLength(2);
    const chat = spans.find((s) => s.name === 'chat claude-sonnet-4-5')!;
    const tool = spans.find((s) => s.name === 'execute_tool Bash')!;
    expect(chat.kind).toBe(3); // SPAN_KIND_CLIENT
    expect(attrs(chat.attributes)).toMatchObject({
      'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'anthropic', 'gen_ai.system': 'anthropic',
      'gen_ai.request.model': 'claude-sonnet-4-5', 'gen_ai.response.model': 'claude-sonnet-4-5-20250929', 'gen_ai.response.id': 'msg_01',
      'gen_ai.usage.input_tokens': 2417, 'gen_ai.usage.output_tokens': 89, 'gen_ai.response.finish_reasons': ['tool_use'],
      'gen_ai.conversation.id': 'conn-7', 'agent_sensor.agent_pid': 4242,
    });
    expect(Buffer.from(tool.parentSpanId, 'base64').equals(Buffer.from(chat.spanId, 'base64'))).toBe(true);
    expect(Buffer.from(tool.traceId, 'base64').equals(Buffer.from(chat.traceId, 'base64'))).toBe(true);
    expect(attrs(tool.attributes)).toMatchObject({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'Bash', 'gen_ai.tool.call.id': 'toolu_1', 'gen_ai.tool.type': 'function' });
    expect(Object.keys(attrs(tool.attributes))).not.toContain('gen_ai.tool.call.arguments');
    expect(tool.events.map((e: { name: string }) => e.name)).toEqual(['exec bash', 'open /home/u/.ssh/id_rsa']);
    expect(attrs(tool.events[1].attributes)).toMatchObject({ 'agent_sensor.relation': 'open', 'agent_sensor.event_id': 12, 'process.pid': 4300 });
    expect(BigInt(chat.startTimeUnixNano)).toBe(BigInt(t0) * 1_000_000n);
    expect(BigInt(tool.endTimeUnixNano)).toBe(BigInt(t0 + 1020) * 1_000_000n);
  });

  it('an endpoint that is down costs a failed export, never a throw or a hang', async () => {
    const dead = createServer();
    await new Promise<void>((ok) => dead.listen(0, '127.0.0.1', ok));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((ok) => dead.close(() => ok()));
    const exporter = new GenAiSpanExporter({ url: `http://127.0.0.1:${port}/v1/traces`, timeoutMillis: 2000 });
    const turn = emptyTurn('codex', 'openai');
    expect(() => exporter.export({ turn, startMs: 1, endMs: 2, tools: [] })).not.toThrow();
    // A hang would hit the test's timeout: the exporter's own timeout ends it.
    // The failure is reported to the caller (the collector counts it), not thrown into it.
    const flushed = await exporter.forceFlush().then(() => 'resolved', () => 'rejected');
    await exporter.shutdown();
    expect(flushed).toBe('rejected');
  }, 30_000);
});
