// Gemini generateContent / streamGenerateContent (?alt=sse), the API Gemini
// CLI and Qwen Code's Gemini mode speak; the model is in the URL path. Gemini
// CLI with a Google login goes through Code Assist (`/v1internal:
// generateContent`), which wraps the same shapes: {model, request: {...}} and
// {response: {...}}. A tool call is a part {functionCall: {name, args, id?}};
// results go back as parts {functionResponse: {name, response, id?}}. Each
// streamed event is a whole GenerateContentResponse; calls are not split.
import type { SseEvent } from '../http/sse.js';
import { asArray, asCount, asString, boundedText, isRecord, toolCall, tryJson, type ModelTurn } from '../turn.js';

export function geminiRequest(body: unknown, turn: ModelTurn): void {
  if (!isRecord(body)) return;
  if (asString(body.model)) turn.model = stripModels(body.model as string);
  const req = isRecord(body.request) ? body.request : body;
  const contents = asArray(req.contents);
  const last = contents[contents.length - 1];
  if (!isRecord(last) || last.role === 'model') return;
  for (const part of asArray(last.parts)) {
    if (!isRecord(part) || !isRecord(part.functionResponse)) continue;
    const fr = part.functionResponse;
    turn.toolResults.push({ callId: asString(fr.id), name: asString(fr.name), content: boundedText(fr.response ?? '') });
  }
}

export function geminiResponse(body: unknown, turn: ModelTurn): void {
  if (!isRecord(body)) { turn.incomplete = true; return; }
  readChunk(body, turn);
}

export function geminiStream(events: SseEvent[], complete: boolean, turn: ModelTurn): void {
  let finished = false;
  for (const ev of events) {
    const data = tryJson(ev.data);
    if (!isRecord(data)) continue;
    if (readChunk(data, turn)) finished = true;
  }
  if (!finished || !complete) turn.incomplete = true;
}

/** Returns true when a candidate carried a finishReason. */
function readChunk(raw: Record<string, unknown>, turn: ModelTurn): boolean {
  const body = isRecord(raw.response) ? raw.response : raw;
  let finished = false;
  if (asString(body.modelVersion)) turn.responseModel = body.modelVersion as string;
  if (asString(body.responseId)) turn.responseId = body.responseId as string;
  const usage = isRecord(body.usageMetadata) ? body.usageMetadata : undefined;
  if (usage) {
    turn.inputTokens = asCount(usage.promptTokenCount) ?? turn.inputTokens;
    turn.outputTokens = asCount(usage.candidatesTokenCount) ?? turn.outputTokens;
  }
  for (const cand of asArray(body.candidates)) {
    if (!isRecord(cand)) continue;
    if (asString(cand.finishReason)) { turn.finishReasons.push(cand.finishReason as string); finished = true; }
    const content = isRecord(cand.content) ? cand.content : {};
    for (const part of asArray(content.parts)) {
      if (!isRecord(part) || !isRecord(part.functionCall)) continue;
      const fc = part.functionCall;
      turn.toolCalls.push(toolCall(asString(fc.name) ?? '', JSON.stringify(fc.args ?? {}), asString(fc.id)));
    }
  }
  return finished;
}

/** `models/gemini-2.5-pro` -> `gemini-2.5-pro` */
export function stripModels(name: string): string {
  return name.startsWith('models/') ? name.slice('models/'.length) : name;
}

/** The model and method of a Gemini URL path, e.g. /v1beta/models/gemini-2.5-pro:streamGenerateContent */
export function geminiPath(path: string): { model?: string; stream: boolean } | undefined {
  const m = /\/models\/([^/:?]+):(generateContent|streamGenerateContent)\b/.exec(path)
    ?? /\/v1internal:(generateContent|streamGenerateContent)\b/.exec(path);
  if (!m) return undefined;
  if (m.length === 3) return { model: safeDecode(m[1]), stream: m[2] === 'streamGenerateContent' };
  return { stream: m[1] === 'streamGenerateContent' };
}

function safeDecode(s: string): string {
  try { return decodeURIComponent(s); } catch { return s; }
}
