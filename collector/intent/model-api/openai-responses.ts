// OpenAI Responses (POST /v1/responses), the API Codex speaks. Output items:
// `function_call` (name, call_id, arguments), `custom_tool_call` (free-form
// `input`, e.g. apply_patch) and `local_shell_call` (action.command argv).
// Streaming: typed events (`response.output_item.added`,
// `response.function_call_arguments.delta`, `response.output_item.done`,
// `response.completed`), each naming its output item by output_index/item_id.
import type { SseEvent } from '../http/sse.js';
import { asArray, asCount, asString, boundedText, isRecord, toolCall, tryJson, type ModelTurn, type ToolCall } from '../turn.js';

export function openAiResponsesRequest(body: unknown, turn: ModelTurn): void {
  if (!isRecord(body)) return;
  turn.model = asString(body.model) ?? turn.model;
  turn.stream = body.stream === true;
  const input = asArray(body.input);
  // The results sent back are the *_output items after the last model item.
  let last = input.length - 1;
  while (last >= 0 && !isModelItem(input[last])) last--;
  for (const item of input.slice(last + 1)) {
    if (!isRecord(item)) continue;
    if (item.type === 'function_call_output' || item.type === 'custom_tool_call_output' || item.type === 'local_shell_call_output') {
      turn.toolResults.push({ callId: asString(item.call_id), content: boundedText(item.output) });
    }
  }
}

function isModelItem(item: unknown): boolean {
  if (!isRecord(item)) return false;
  if (item.type === 'message') return item.role === 'assistant';
  return item.type === 'function_call' || item.type === 'custom_tool_call' || item.type === 'local_shell_call' || item.type === 'reasoning';
}

export function openAiResponsesResponse(body: unknown, turn: ModelTurn): void {
  if (!isRecord(body)) { turn.incomplete = true; return; }
  readResponse(body, turn);
  for (const item of asArray(body.output)) {
    const call = itemToolCall(item);
    if (call) turn.toolCalls.push(call);
  }
}

/** A tool call from an output item, or undefined when it is not one. */
export function itemToolCall(item: unknown, incomplete = false): ToolCall | undefined {
  if (!isRecord(item)) return undefined;
  const id = asString(item.call_id) ?? asString(item.id);
  if (item.type === 'function_call') return toolCall(asString(item.name) ?? '', asString(item.arguments) ?? '', id, incomplete);
  if (item.type === 'custom_tool_call') {
    const c = toolCall(asString(item.name) ?? '', JSON.stringify({ input: asString(item.input) ?? '' }), id, incomplete);
    return c;
  }
  if (item.type === 'local_shell_call') {
    const action = isRecord(item.action) ? item.action : {};
    return toolCall('local_shell', JSON.stringify({ command: asArray(action.command).filter((a) => typeof a === 'string'), ...(asString(action.working_directory) ? { workdir: action.working_directory } : {}) }), id, incomplete);
  }
  return undefined;
}

export function openAiResponsesStream(events: SseEvent[], complete: boolean, turn: ModelTurn): void {
  const items = new Map<number, { item: Record<string, unknown>; args: string[]; done: boolean }>();
  let completed = false;
  for (const ev of events) {
    const data = tryJson(ev.data);
    if (!isRecord(data)) continue;
    const type = asString(data.type) ?? ev.event;
    const index = asCount(data.output_index) ?? -1;
    if (type === 'response.created' || type === 'response.in_progress') {
      if (isRecord(data.response)) readResponse(data.response, turn);
    } else if (type === 'response.output_item.added' && isRecord(data.item)) {
      items.set(index, { item: { ...data.item }, args: [], done: false });
    } else if (type === 'response.function_call_arguments.delta' || type === 'response.custom_tool_call_input.delta') {
      const it = items.get(index) ?? findById(items, asString(data.item_id));
      if (it && typeof data.delta === 'string') it.args.push(data.delta);
    } else if (type === 'response.output_item.done' && isRecord(data.item)) {
      items.set(index, { item: data.item, args: [], done: true });
    } else if (type === 'response.completed' || type === 'response.incomplete' || type === 'response.failed') {
      if (isRecord(data.response)) readResponse(data.response, turn);
      completed = type === 'response.completed';
      if (type !== 'response.completed') turn.finishReasons.push(type.slice('response.'.length));
    }
  }
  if (!completed) turn.incomplete = true;
  for (const [, it] of [...items.entries()].sort((a, b) => a[0] - b[0])) {
    const item = it.item;
    if (!it.done && it.args.length > 0) {
      if (item.type === 'custom_tool_call') item.input = it.args.join('');
      else item.arguments = it.args.join('');
    }
    const call = itemToolCall(item, !it.done && !completed);
    if (call) turn.toolCalls.push(call);
  }
  void complete;
}

function findById(items: Map<number, { item: Record<string, unknown>; args: string[]; done: boolean }>, id: string | undefined) {
  if (!id) return undefined;
  for (const it of items.values()) if (it.item.id === id) return it;
  return undefined;
}

function readResponse(r: Record<string, unknown>, turn: ModelTurn): void {
  turn.responseModel = asString(r.model) ?? turn.responseModel;
  turn.responseId = asString(r.id) ?? turn.responseId;
  const usage = isRecord(r.usage) ? r.usage : undefined;
  if (usage) {
    turn.inputTokens = asCount(usage.input_tokens) ?? turn.inputTokens;
    turn.outputTokens = asCount(usage.output_tokens) ?? turn.outputTokens;
  }
  if (r.status === 'completed' && !turn.finishReasons.includes('completed')) turn.finishReasons.push('completed');
}
