// Qwen Code (a Gemini CLI fork) records sessions as JSONL chat records:
// {uuid, parentUuid, sessionId, timestamp, type: 'user'|'assistant'|
// 'tool_result'|'system', cwd, message: {role, parts: [...]}, usageMetadata,
// model, toolCallResult}. The model's calls are parts {functionCall: {id,
// name, args}} of assistant records; results are parts {functionResponse:
// {id, name, response}} of tool_result records. Older releases kept Gemini
// CLI's session document under ~/.qwen/tmp/<hash>/chats, read by
// GeminiCliTranscript('qwen-code').
import { asArray, asCount, asString, boundedText, emptyTurn, isRecord, toolCall, type ModelTurn } from '../turn.js';
import { BoundedSet } from './bounded-set.js';
import { providerOfModel } from './provider-of-model.js';

export class QwenCodeTranscript {
  private readonly seen = new BoundedSet(10_000);

  line(r: unknown): ModelTurn[] {
    if (!isRecord(r) || !isRecord(r.message)) return [];
    const model = asString(r.model);
    const t = emptyTurn('qwen-code', providerOfModel(model, 'unknown'));
    t.model = model;
    if (asString(r.timestamp)) t.ts = r.timestamp as string;
    if (asString(r.sessionId)) t.sessionId = r.sessionId as string;
    t.responseId = asString(r.uuid);
    const parts = asArray(r.message.parts);
    if (r.type === 'assistant') {
      const usage = isRecord(r.usageMetadata) ? r.usageMetadata : {};
      t.inputTokens = asCount(usage.promptTokenCount);
      t.outputTokens = asCount(usage.candidatesTokenCount);
      for (const p of parts) {
        if (!isRecord(p) || !isRecord(p.functionCall)) continue;
        const fc = p.functionCall;
        const id = asString(fc.id);
        if (id && !this.seen.add(id)) continue;
        t.toolCalls.push(toolCall(asString(fc.name) ?? '', JSON.stringify(fc.args ?? {}), id));
      }
      return t.toolCalls.length || t.inputTokens !== undefined ? [t] : [];
    }
    if (r.type === 'tool_result') {
      const status = isRecord(r.toolCallResult) ? r.toolCallResult.status : undefined;
      for (const p of parts) {
        if (!isRecord(p) || !isRecord(p.functionResponse)) continue;
        const fr = p.functionResponse;
        t.toolResults.push({ callId: asString(fr.id), name: asString(fr.name), content: boundedText(fr.response ?? ''), ...(status === 'error' ? { isError: true } : {}) });
      }
      return t.toolResults.length ? [t] : [];
    }
    return [];
  }
}
