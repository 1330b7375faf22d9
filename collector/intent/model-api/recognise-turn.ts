// Which model API an HTTP exchange speaks, and the turn it carries. Told apart
// by the request path (the API shape), not by the host: the same shapes are
// served by many providers and local servers. The provider name follows the
// OpenTelemetry GenAI values where the host says which one it is.
import type { HttpExchange } from '../http/http-connection.js';
import { decodeBody } from '../http/body-decoding.js';
import { parseSse, type SseEvent } from '../http/sse.js';
import { emptyTurn, isRecord, tryJson, type ModelApi, type ModelTurn } from '../turn.js';
import { anthropicRequest, anthropicResponse, anthropicStream } from './anthropic-messages.js';
import { geminiPath, geminiRequest, geminiResponse, geminiStream } from './gemini-generate-content.js';
import { openAiChatRequest, openAiChatResponse, openAiChatStream } from './openai-chat.js';
import { openAiResponsesRequest, openAiResponsesResponse, openAiResponsesStream } from './openai-responses.js';

interface ApiHandlers {
  request(body: unknown, turn: ModelTurn): void;
  response(body: unknown, turn: ModelTurn): void;
  stream(events: SseEvent[], complete: boolean, turn: ModelTurn): void;
  defaultProvider: string;
}

const HANDLERS: Record<ModelApi, ApiHandlers> = {
  'openai.chat': { request: openAiChatRequest, response: openAiChatResponse, stream: openAiChatStream, defaultProvider: 'openai' },
  'openai.responses': { request: openAiResponsesRequest, response: openAiResponsesResponse, stream: openAiResponsesStream, defaultProvider: 'openai' },
  'anthropic.messages': { request: anthropicRequest, response: anthropicResponse, stream: anthropicStream, defaultProvider: 'anthropic' },
  'gemini.generate_content': { request: geminiRequest, response: geminiResponse, stream: geminiStream, defaultProvider: 'gcp.gemini' },
};

const HOST_PROVIDERS: Array<[RegExp, string]> = [
  [/(^|\.)openai\.com$/, 'openai'],
  [/(^|\.)openai\.azure\.com$/, 'azure.ai.openai'],
  [/(^|\.)anthropic\.com$/, 'anthropic'],
  [/(^|\.)generativelanguage\.googleapis\.com$/, 'gcp.gemini'],
  [/(^|\.)cloudcode-pa\.googleapis\.com$/, 'gcp.gemini'],
  [/(^|\.)aiplatform\.googleapis\.com$/, 'gcp.vertex_ai'],
  [/(^|\.)deepseek\.com$/, 'deepseek'],
  [/(^|\.)dashscope(-intl)?\.aliyuncs\.com$/, 'dashscope'],
  [/(^|\.)groq\.com$/, 'groq'],
  [/(^|\.)mistral\.ai$/, 'mistral_ai'],
  [/(^|\.)x\.ai$/, 'x_ai'],
  [/(^|\.)openrouter\.ai$/, 'openrouter'],
];

/** The API a request path belongs to, or undefined for other traffic. */
export function apiOfPath(method: string | undefined, target: string | undefined): ModelApi | undefined {
  if (method !== 'POST' || !target) return undefined;
  const path = target.replace(/^https?:\/\/[^/]+/i, '').split('?')[0];
  if (/\/chat\/completions$/.test(path)) return 'openai.chat';
  if (/\/responses$/.test(path)) return 'openai.responses';
  if (/\/messages$/.test(path) && !/\/threads\//.test(path)) return 'anthropic.messages';
  if (geminiPath(path)) return 'gemini.generate_content';
  return undefined;
}

export function providerOfHost(host: string | undefined, api: ModelApi): string {
  const h = (host ?? '').toLowerCase().replace(/:\d+$/, '');
  for (const [re, name] of HOST_PROVIDERS) if (re.test(h)) return name;
  return HANDLERS[api].defaultProvider;
}

/** The model turn an exchange carries, or undefined when it is not model API traffic. */
export function turnOfExchange(exchange: HttpExchange): ModelTurn | undefined {
  const { request, response } = exchange;
  const api = apiOfPath(request.method, request.target);
  if (!api) return undefined;
  const h = HANDLERS[api];
  const turn = emptyTurn('http', providerOfHost(request.headers.host, api));
  turn.api = api;
  if (api === 'gemini.generate_content') {
    const g = geminiPath((request.target ?? '').split('?')[0]);
    if (g?.model) turn.model = g.model;
    turn.stream = g?.stream ?? false;
  }
  const reqBody = jsonBody(request.body, request.headers['content-encoding']);
  // Paths like /messages are common outside model APIs: a whole body that
  // does not have the API's shape is other traffic.
  if (reqBody !== undefined && !request.incomplete && !looksLike(api, reqBody)) return undefined;
  if (request.incomplete || reqBody === undefined) turn.incomplete = true;
  // A body cut by the capture's per-write bound (model requests carry tens of
  // KiB of tool declarations) still names its model near the start.
  if (reqBody === undefined && !request.headers['content-encoding']) {
    const m = /"model"\s*:\s*"([^"\\]{1,200})"/.exec(request.body.subarray(0, 4096).toString('utf8'));
    if (m) turn.model = m[1];
  }
  if (reqBody !== undefined) {
    const stream = turn.stream;
    h.request(reqBody, turn);
    if (api === 'gemini.generate_content') turn.stream = stream;
  }
  if (!response) { turn.incomplete = true; return turn; }
  // Whether the answer alone was whole (its tool calls all there) is told apart from a cut request.
  const requestCut = turn.incomplete;
  turn.incomplete = false;
  const decoded = decodeBody(response.body, response.headers['content-encoding']);
  if (!decoded.ok || response.incomplete) turn.incomplete = true;
  const type = (response.headers['content-type'] ?? '').toLowerCase();
  const text = decoded.bytes.toString('utf8');
  if (type.includes('text/event-stream')) {
    const { events, complete } = parseSse(text);
    h.stream(events, complete && !response.incomplete, turn);
  } else if ((response.status ?? 0) >= 200 && (response.status ?? 0) < 300) {
    const body = tryJson(text);
    if (body === undefined) turn.incomplete = true;
    else h.response(body, turn);
  } else {
    turn.finishReasons.push(`http_${response.status}`);
  }
  turn.answerWhole = !turn.incomplete;
  turn.incomplete ||= requestCut;
  return turn;
}

function looksLike(api: ModelApi, body: unknown): boolean {
  if (!isRecord(body)) return false;
  switch (api) {
    case 'openai.chat': return Array.isArray(body.messages);
    case 'openai.responses': return 'input' in body || typeof body.model === 'string';
    case 'anthropic.messages': return Array.isArray(body.messages) && typeof body.model === 'string';
    case 'gemini.generate_content': return Array.isArray(body.contents) || (isRecord(body.request) && Array.isArray(body.request.contents));
  }
}

function jsonBody(body: Buffer, encoding: string | undefined): unknown {
  const d = decodeBody(body, encoding);
  if (!d.ok) return undefined;
  return tryJson(d.bytes.toString('utf8'));
}
