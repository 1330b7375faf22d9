// Gemini CLI: ~/.gemini/tmp/<project hash>/chats/session-<time>-<id>.json, one
// JSON document rewritten as the session grows: {sessionId, projectHash,
// startTime, lastUpdated, messages: [{id, timestamp, type: 'user'|'gemini'|
// 'info'|'error', content, toolCalls: [{id, name, args, result, status}],
// tokens: {input, output, ...}, model}]}. Newer releases append the same
// message records as JSONL; both feed `message()`. Tool calls are recorded
// after they ran, with their results ([{functionResponse: {response}}]).
// Qwen Code 0.1.x writes the same document under ~/.qwen/tmp with model
// messages typed 'qwen', and in headless (-p) runs records no toolCalls:
// only the tokens of each answer (seen with 0.1.4); the calls then come from
// the captured HTTP.
import { asArray, asCount, asString, boundedText, emptyTurn, isRecord, toolCall, tryJson, type ModelTurn } from '../turn.js';
import { BoundedSet } from './bounded-set.js';
import { providerOfModel } from './provider-of-model.js';

export class GeminiCliTranscript {
  private readonly seen = new BoundedSet(50_000);
  private sessionId?: string;

  constructor(private readonly source: 'gemini-cli' | 'qwen-code' = 'gemini-cli') {}

  /** The whole session document (the .json form). */
  document(text: string): ModelTurn[] {
    const doc = tryJson(text);
    if (!isRecord(doc)) return [];
    this.sessionId = asString(doc.sessionId) ?? this.sessionId;
    return asArray(doc.messages).flatMap((m) => this.message(m));
  }

  /** One message record (a line of the .jsonl form, or an element of messages). */
  message(m: unknown): ModelTurn[] {
    if (!isRecord(m)) return [];
    if (asString(m.sessionId)) this.sessionId = m.sessionId as string;
    // The model's messages: 'gemini' in Gemini CLI, 'qwen' in Qwen Code's fork (0.1.x).
    if ((m.type !== 'gemini' && m.type !== 'qwen') || (asArray(m.toolCalls).length === 0 && !isRecord(m.tokens))) return [];
    const model = asString(m.model);
    const t = emptyTurn(this.source, providerOfModel(model, 'gcp.gemini'));
    if (t.provider === 'gcp.gemini') t.api = 'gemini.generate_content';
    t.model = model;
    t.responseId = asString(m.id);
    if (asString(m.timestamp)) t.ts = m.timestamp as string;
    if (this.sessionId) t.sessionId = this.sessionId;
    const tokens = isRecord(m.tokens) ? m.tokens : {};
    // The whole document is re-read on every change: a message counts once.
    const fresh = !t.responseId || this.seen.add(`m:${t.responseId}`);
    if (fresh) {
      t.inputTokens = asCount(tokens.input);
      t.outputTokens = asCount(tokens.output);
    }
    for (const c of asArray(m.toolCalls)) {
      if (!isRecord(c)) continue;
      const id = asString(c.id);
      if (id && !this.seen.add(`c:${id}`)) continue;
      if (!id && !fresh) continue;
      t.toolCalls.push(toolCall(asString(c.name) ?? '', JSON.stringify(c.args ?? {}), id));
      const result = resultText(c.result);
      if (result !== undefined) t.toolResults.push({ callId: id, name: asString(c.name), content: result, ...(c.status === 'error' ? { isError: true } : {}) });
    }
    return t.toolCalls.length || fresh && (t.inputTokens !== undefined || t.outputTokens !== undefined) ? [t] : [];
  }
}

function resultText(result: unknown): string | undefined {
  if (result === undefined || result === null) return undefined;
  const parts = asArray(result).map((p) => (isRecord(p) && isRecord(p.functionResponse) ? p.functionResponse.response : p));
  return boundedText(parts.length === 1 ? parts[0] : parts);
}
