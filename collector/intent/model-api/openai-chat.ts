// OpenAI Chat Completions (POST /v1/chat/completions), also spoken by most
// "OpenAI-compatible" servers (DeepSeek, Qwen DashScope, vLLM, Ollama, ...).
// Streaming: `data: {chat.completion.chunk}` events ending in `data: [DONE]`;
// a tool call arrives as deltas keyed by `index`, its id and name in the
// first delta and the arguments split across the following ones.
import type { SseEvent } from '../http/sse.js';
import { asArray, asCount, asString, boundedText, isRecord, toolCall, tryJson, type ModelTurn } from '../turn.js';

export function openAiChatRequest(body: unknown, turn: ModelTurn): void {
  if (!isRecord(body)) return;
  turn.model = asString(body.model) ?? turn.model;
  turn.stream = body.stream === true;
  const messages = asArray(body.messages);
  // Tool results of this request are the `tool` messages after the last
  // assistant message: the answers to the calls the previous turn made.
  let last = messages.length - 1;
  while (last >= 0 && isRecord(messages[last]) && (messages[last] as Record<string, unknown>).role !== 'assistant') last--;
  for (const m of messages.slice(last + 1)) {
    if (!isRecord(m) || m.role !== 'tool') continue;
    turn.toolResults.push({ callId: asString(m.tool_call_id), content: contentText(m.content), ...(asString(m.name) ? { name: asString(m.name) } : {}) });
  }
  const asked = last >= 0 && turn.toolResults.length > 0 ? messages[last] : undefined;
  if (isRecord(asked)) {
    const echoed = asArray(asked.tool_calls).filter(isRecord).map((c) => {
      const fn = isRecord(c.function) ? c.function : {};
      return toolCall(asString(fn.name) ?? '', asString(fn.arguments) ?? '', asString(c.id));
    });
    if (echoed.length > 0) turn.echoedToolCalls = echoed;
  }
}

export function openAiChatResponse(body: unknown, turn: ModelTurn): void {
  if (!isRecord(body)) { turn.incomplete = true; return; }
  readHeader(body, turn);
  for (const choice of asArray(body.choices)) {
    if (!isRecord(choice)) continue;
    if (asString(choice.finish_reason)) turn.finishReasons.push(choice.finish_reason as string);
    const message = isRecord(choice.message) ? choice.message : {};
    for (const c of asArray(message.tool_calls)) {
      if (!isRecord(c)) continue;
      const fn = isRecord(c.function) ? c.function : {};
      turn.toolCalls.push(toolCall(asString(fn.name) ?? '', asString(fn.arguments) ?? '', asString(c.id)));
    }
  }
}

export function openAiChatStream(events: SseEvent[], complete: boolean, turn: ModelTurn): void {
  // (choice index, tool index) -> accumulating call
  const calls = new Map<string, { id?: string; name: string; args: string[] }>();
  let done = false;
  for (const ev of events) {
    if (ev.data.trim() === '[DONE]') { done = true; continue; }
    const chunk = tryJson(ev.data);
    if (!isRecord(chunk)) continue;
    readHeader(chunk, turn);
    for (const choice of asArray(chunk.choices)) {
      if (!isRecord(choice)) continue;
      const ci = asCount(choice.index) ?? 0;
      if (asString(choice.finish_reason)) turn.finishReasons.push(choice.finish_reason as string);
      const delta = isRecord(choice.delta) ? choice.delta : {};
      for (const d of asArray(delta.tool_calls)) {
        if (!isRecord(d)) continue;
        const key = `${ci}:${asCount(d.index) ?? 0}`;
        let call = calls.get(key);
        if (!call) { call = { name: '', args: [] }; calls.set(key, call); }
        if (asString(d.id)) call.id = d.id as string;
        const fn = isRecord(d.function) ? d.function : {};
        if (asString(fn.name)) call.name += fn.name as string;
        if (asString(fn.arguments)) call.args.push(fn.arguments as string);
      }
    }
  }
  const whole = done || (complete && turn.finishReasons.length > 0);
  if (!whole) turn.incomplete = true;
  for (const c of calls.values()) turn.toolCalls.push(toolCall(c.name, c.args.join(''), c.id, !whole));
}

function readHeader(body: Record<string, unknown>, turn: ModelTurn): void {
  turn.responseModel = asString(body.model) ?? turn.responseModel;
  turn.responseId = asString(body.id) ?? turn.responseId;
  const usage = isRecord(body.usage) ? body.usage : undefined;
  if (usage) {
    turn.inputTokens = asCount(usage.prompt_tokens) ?? turn.inputTokens;
    turn.outputTokens = asCount(usage.completion_tokens) ?? turn.outputTokens;
  }
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return boundedText(content);
  // [{type:'text', text}] parts
  return boundedText(asArray(content).map((p) => (isRecord(p) && typeof p.text === 'string' ? p.text : '')).join(''));
}
