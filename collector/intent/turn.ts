// One model turn, whichever source saw it (captured HTTP or an agent's own
// session transcript): the request the agent sent (with the tool results it
// reported back) and the answer (with the tool calls the model asked for).

export type ModelApi = 'openai.chat' | 'openai.responses' | 'anthropic.messages' | 'gemini.generate_content';

export type TurnSource = 'http' | 'claude-code' | 'codex' | 'gemini-cli' | 'qwen-code';

export interface ToolCall {
  /** the provider's call id (tool_use id, call_id, functionCall id), when given */
  id?: string;
  name: string;
  /** the arguments as JSON text, exactly as streamed or serialised */
  arguments: string;
  /** the arguments parsed, when they are valid JSON */
  input?: unknown;
  /** the arguments were cut (stream or capture ended mid-call) */
  incomplete?: boolean;
}

export interface ToolResult {
  /** the call this answers, when the API names it */
  callId?: string;
  name?: string;
  /** text of the result, bounded (MAX_TOOL_RESULT_CHARS) */
  content: string;
  isError?: boolean;
}

export interface ModelTurn {
  source: TurnSource;
  api?: ModelApi;
  /** OpenTelemetry gen_ai.provider.name values: openai, anthropic, gcp.gemini, ... */
  provider: string;
  /** the model asked for */
  model?: string;
  /** the model that answered, when the answer names it */
  responseModel?: string;
  responseId?: string;
  stream?: boolean;
  inputTokens?: number;
  outputTokens?: number;
  finishReasons: string[];
  toolCalls: ToolCall[];
  /** tool results the agent sent back in this request (answers to the previous turn) */
  toolResults: ToolResult[];
  /**
   * the calls of the previous answer, as the agent repeats them in this
   * request's history before their results (OpenAI Chat): the only view of
   * the calls where the answers are not captured (plain sockets)
   */
  echoedToolCalls?: ToolCall[];
  /** the request or the answer was not whole (cut, over a limit, unparsable) */
  incomplete: boolean;
  /** captured HTTP: the answer was seen whole (its tool calls are all there, whatever the request lost) */
  answerWhole?: boolean;
  /** ISO time when known (transcripts carry it; HTTP turns get it from capture) */
  ts?: string;
  /** transcript session id, or the connection it was captured on */
  sessionId?: string;
}

export const MAX_TOOL_RESULT_CHARS = 4096;
export const MAX_TOOL_ARGUMENT_CHARS = 64 * 1024;

export function boundedText(value: unknown, max = MAX_TOOL_RESULT_CHARS): string {
  let s: string;
  if (typeof value === 'string') s = value;
  else {
    try { s = JSON.stringify(value) ?? ''; } catch { s = ''; }
  }
  return s.length > max ? s.slice(0, max) : s;
}

/** Parse JSON without throwing; undefined when it is not JSON. */
export function tryJson(text: string): unknown {
  try { return JSON.parse(text); } catch { return undefined; }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function asString(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function asCount(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : undefined;
}

/** A tool call from its argument text (JSON when it parses). */
export function toolCall(name: string, args: string, id?: string, incomplete = false): ToolCall {
  const text = args.length > MAX_TOOL_ARGUMENT_CHARS ? args.slice(0, MAX_TOOL_ARGUMENT_CHARS) : args;
  const input = text === '' ? {} : tryJson(text);
  const call: ToolCall = { name, arguments: text };
  if (id) call.id = id;
  if (input !== undefined) call.input = input;
  if (incomplete || args.length > MAX_TOOL_ARGUMENT_CHARS || (text !== '' && input === undefined)) call.incomplete = true;
  return call;
}

export function emptyTurn(source: TurnSource, provider: string): ModelTurn {
  return { source, provider, finishReasons: [], toolCalls: [], toolResults: [], incomplete: false };
}
