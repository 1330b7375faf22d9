// A model turn and the actions its tool calls caused, exported as
// OpenTelemetry spans after the GenAI semantic conventions, through the
// official OpenTelemetry JS SDK and its OTLP/HTTP (protobuf) exporter: a
// `chat {model}` CLIENT span for the turn, one `execute_tool {name}` child
// per tool call, and the joined actions (exec, open, connect) as events of
// the tool span. The provider is private to this exporter (nothing is
// registered globally), so the sensor's own process is not instrumented.
//
// What leaves the host: names, models, token counts, call ids, and per
// action its kind, pid and subject (argv[0], path, address). Not the tool
// arguments nor results (gen_ai.tool.call.arguments/result are opt-in in the
// conventions because they carry content; a write_file call carries a file).
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ModelTurn, ToolCall } from '../turn.js';

/** Attribute names of the GenAI semantic conventions (semconv 1.37+, as in @opentelemetry/semantic-conventions/incubating). */
export const GENAI = {
  operationName: 'gen_ai.operation.name',
  providerName: 'gen_ai.provider.name',
  /** deprecated for gen_ai.provider.name; still read by many backends */
  system: 'gen_ai.system',
  requestModel: 'gen_ai.request.model',
  responseModel: 'gen_ai.response.model',
  responseId: 'gen_ai.response.id',
  finishReasons: 'gen_ai.response.finish_reasons',
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
  conversationId: 'gen_ai.conversation.id',
  toolName: 'gen_ai.tool.name',
  toolCallId: 'gen_ai.tool.call.id',
  toolType: 'gen_ai.tool.type',
} as const;

const MAX_ACTION_EVENTS = 128;

export interface ExportedAction {
  kind: 'exec' | 'open' | 'connect' | 'fork';
  relation: string;
  eventId: number;
  tsMs: number;
  pid: number;
  /** argv[0] / path / address:port */
  text: string;
}

export interface ExportedToolCall {
  call: ToolCall;
  tsMs: number;
  endMs?: number;
  actions: ExportedAction[];
}

export interface TurnExport {
  turn: ModelTurn;
  startMs: number;
  endMs: number;
  agent?: string;
  agentPid?: number;
  tools: ExportedToolCall[];
}

export interface GenAiExporterOptions {
  /** OTLP/HTTP traces endpoint, e.g. http://collector:4318/v1/traces */
  url: string;
  headers?: Record<string, string>;
  serviceName?: string;
  timeoutMillis?: number;
}

export class GenAiSpanExporter {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;

  constructor(opts: GenAiExporterOptions) {
    const exporter = new OTLPTraceExporter({ url: opts.url, headers: opts.headers, timeoutMillis: opts.timeoutMillis ?? 10_000 });
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': opts.serviceName ?? 'agent-sensor' }),
      spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 2048, maxExportBatchSize: 256, scheduledDelayMillis: 1000 })],
    });
    this.tracer = this.provider.getTracer('agent-sensor-intent', '0.1.0');
  }

  export(t: TurnExport): void {
    const { turn } = t;
    const chatAttrs: Attributes = {
      [GENAI.operationName]: turn.api === 'gemini.generate_content' ? 'generate_content' : 'chat',
      [GENAI.providerName]: turn.provider,
      [GENAI.system]: turn.provider,
      'agent_sensor.source': turn.source,
      'agent_sensor.incomplete': turn.incomplete,
    };
    setIf(chatAttrs, GENAI.requestModel, turn.model);
    setIf(chatAttrs, GENAI.responseModel, turn.responseModel);
    setIf(chatAttrs, GENAI.responseId, turn.responseId);
    setIf(chatAttrs, GENAI.inputTokens, turn.inputTokens);
    setIf(chatAttrs, GENAI.outputTokens, turn.outputTokens);
    setIf(chatAttrs, GENAI.conversationId, turn.sessionId);
    setIf(chatAttrs, 'agent_sensor.agent', t.agent);
    setIf(chatAttrs, 'agent_sensor.agent_pid', t.agentPid);
    if (turn.finishReasons.length) chatAttrs[GENAI.finishReasons] = turn.finishReasons;
    const name = `${chatAttrs[GENAI.operationName]} ${turn.model ?? turn.responseModel ?? ''}`.trim();
    // Parent set explicitly: no context manager is registered (none global).
    const chat = this.tracer.startSpan(name, { kind: SpanKind.CLIENT, startTime: t.startMs, attributes: chatAttrs }, ROOT_CONTEXT);
    const parent = trace.setSpan(ROOT_CONTEXT, chat);
    for (const tool of t.tools) {
      const attrs: Attributes = { [GENAI.operationName]: 'execute_tool', [GENAI.toolName]: tool.call.name, [GENAI.toolType]: 'function' };
      setIf(attrs, GENAI.toolCallId, tool.call.id);
      attrs['agent_sensor.actions'] = tool.actions.length;
      const span = this.tracer.startSpan(`execute_tool ${tool.call.name}`, { kind: SpanKind.INTERNAL, startTime: tool.tsMs, attributes: attrs }, parent);
      // The SDK keeps 128 events per span by default; say how many there were.
      for (const a of tool.actions.slice(0, MAX_ACTION_EVENTS)) {
        span.addEvent(`${a.kind} ${a.text}`.slice(0, 256), {
          'agent_sensor.action': a.kind, 'agent_sensor.relation': a.relation, 'agent_sensor.event_id': a.eventId, 'process.pid': a.pid,
        }, a.tsMs);
      }
      const last = tool.actions.reduce((m, a) => Math.max(m, a.tsMs), Math.max(tool.tsMs, tool.endMs ?? 0));
      span.end(last);
    }
    if (turn.incomplete) chat.setStatus({ code: SpanStatusCode.ERROR, message: 'turn not captured whole' });
    chat.end(Math.max(t.endMs, t.startMs));
  }

  forceFlush(): Promise<void> { return this.provider.forceFlush(); }
  shutdown(): Promise<void> { return this.provider.shutdown(); }
}

function setIf(attrs: Attributes, key: string, value: string | number | undefined): void {
  if (value !== undefined && value !== '') attrs[key] = value;
}
