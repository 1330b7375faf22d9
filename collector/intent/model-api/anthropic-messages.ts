// Anthropic Messages (POST /v1/messages), the API Claude Code speaks. A tool
// call is a `tool_use` content block (id, name, input); results go back as
// `tool_result` blocks in the next user message. Streaming: message_start,
// content_block_start (the tool_use with empty input), content_block_delta
// with `input_json_delta.partial_json` pieces, content_block_stop,
// message_delta (stop_reason, output usage), message_stop.
import type { SseEvent } from '../http/sse.js';
import { asArray, asCount, asString, boundedText, isRecord, toolCall, tryJson, type ModelTurn } from '../turn.js';

export function anthropicRequest(body: unknown, turn: ModelTurn): void {
  if (!isRecord(body)) return;
  turn.model = asString(body.model) ?? turn.model;
  turn.stream = body.stream === true;
  const messages = asArray(body.messages);
  const last = messages[messages.length - 1];
  if (!isRecord(last) || last.role !== 'user') return;
  for (const block of asArray(last.content)) {
    if (!isRecord(block) || block.type !== 'tool_result') continue;
    turn.toolResults.push({
      callId: asString(block.tool_use_id),
      content: blockText(block.content),
      ...(block.is_error === true ? { isError: true } : {}),
    });
  }
}

export function anthropicResponse(body: unknown, turn: ModelTurn): void {
  if (!isRecord(body)) { turn.incomplete = true; return; }
  readMessage(body, turn);
  for (const block of asArray(body.content)) {
    if (!isRecord(block) || (block.type !== 'tool_use' && block.type !== 'server_tool_use')) continue;
    turn.toolCalls.push(toolCall(asString(block.name) ?? '', JSON.stringify(block.input ?? {}), asString(block.id)));
  }
}

export function anthropicStream(events: SseEvent[], _complete: boolean, turn: ModelTurn): void {
  const blocks = new Map<number, { id?: string; name: string; json: string[]; stopped: boolean; initial: unknown }>();
  let stopped = false;
  for (const ev of events) {
    const data = tryJson(ev.data);
    if (!isRecord(data)) continue;
    const type = asString(data.type) ?? ev.event;
    if (type === 'message_start' && isRecord(data.message)) readMessage(data.message, turn);
    else if (type === 'content_block_start' && isRecord(data.content_block)) {
      const b = data.content_block;
      if (b.type === 'tool_use' || b.type === 'server_tool_use') {
        blocks.set(asCount(data.index) ?? 0, { id: asString(b.id), name: asString(b.name) ?? '', json: [], stopped: false, initial: b.input });
      }
    } else if (type === 'content_block_delta' && isRecord(data.delta)) {
      const b = blocks.get(asCount(data.index) ?? 0);
      if (b && data.delta.type === 'input_json_delta' && typeof data.delta.partial_json === 'string') b.json.push(data.delta.partial_json);
    } else if (type === 'content_block_stop') {
      const b = blocks.get(asCount(data.index) ?? 0);
      if (b) b.stopped = true;
    } else if (type === 'message_delta') {
      const delta = isRecord(data.delta) ? data.delta : {};
      if (asString(delta.stop_reason)) turn.finishReasons.push(delta.stop_reason as string);
      const usage = isRecord(data.usage) ? data.usage : {};
      turn.outputTokens = asCount(usage.output_tokens) ?? turn.outputTokens;
      turn.inputTokens = asCount(usage.input_tokens) ?? turn.inputTokens;
    } else if (type === 'message_stop') stopped = true;
  }
  if (!stopped) turn.incomplete = true;
  for (const [, b] of [...blocks.entries()].sort((x, y) => x[0] - y[0])) {
    // No deltas means the input came whole in content_block_start.
    const args = b.json.length > 0 ? b.json.join('') : JSON.stringify(b.initial ?? {});
    turn.toolCalls.push(toolCall(b.name, args, b.id, !b.stopped));
  }
}

function readMessage(m: Record<string, unknown>, turn: ModelTurn): void {
  turn.responseModel = asString(m.model) ?? turn.responseModel;
  turn.responseId = asString(m.id) ?? turn.responseId;
  if (asString(m.stop_reason)) turn.finishReasons.push(m.stop_reason as string);
  const usage = isRecord(m.usage) ? m.usage : undefined;
  if (usage) {
    turn.inputTokens = asCount(usage.input_tokens) ?? turn.inputTokens;
    turn.outputTokens = asCount(usage.output_tokens) ?? turn.outputTokens;
  }
}

function blockText(content: unknown): string {
  if (typeof content === 'string') return boundedText(content);
  return boundedText(asArray(content).map((p) => (isRecord(p) && typeof p.text === 'string' ? p.text : '')).join(''));
}
