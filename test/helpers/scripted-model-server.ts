// An OpenAI-compatible model server on loopback that plays a script instead
// of a model: for each request it answers with the next step (a tool call, or
// a final text), streamed as SSE when the client asks for a stream. It speaks
// Chat Completions (POST /v1/chat/completions: Qwen Code and most agents)
// and Responses (POST /v1/responses: Codex, whose recent versions speak
// nothing else). Real agent CLIs talk to it as they would to a provider; what
// they do with the tool calls is theirs. Requests are kept for the test to inspect.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ScriptStep =
  | { toolCall: { name: string; arguments: Record<string, unknown> } }
  | { text: string };

export interface ScriptedModelServer {
  /** http://127.0.0.1:PORT/v1 */
  baseUrl: string;
  port: number;
  /** bodies of the chat completion requests, in order */
  requests: Record<string, unknown>[];
  /** replaces the script (one server can serve several sessions on one port) */
  script(steps: ScriptStep[]): void;
  close(): Promise<void>;
}

/**
 * Steps are taken by the number of tool results in the request so far, so a
 * client that retries a request, or makes side requests (titles, summaries),
 * gets the answer that fits its conversation rather than the next step.
 */
export async function startScriptedModelServer(steps: ScriptStep[], model = 'scripted-model'): Promise<ScriptedModelServer> {
  const requests: Record<string, unknown>[] = [];
  let current = steps;
  const server: Server = createServer((req, res) => void handle(req, res));
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = req.url ?? '';
    if (req.method === 'GET' && url.endsWith('/models')) {
      json(res, { object: 'list', data: [{ id: model, object: 'model', owned_by: 'test' }] });
      return;
    }
    const responses = url.split('?')[0]!.endsWith('/responses');
    if (req.method !== 'POST' || !(url.endsWith('/chat/completions') || responses)) {
      json(res, { error: { message: `not scripted: ${req.method} ${url}` } }, 404);
      return;
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    } catch {
      json(res, { error: { message: 'body is not JSON' } }, 400);
      return;
    }
    requests.push(body);
    if (responses) {
      // Codex sends the whole conversation as `input` items; a tool's output is a *_call_output item.
      const input = Array.isArray(body.input) ? (body.input as { type?: string }[]) : [];
      const results = input.filter((i) => typeof i.type === 'string' && i.type.endsWith('_call_output')).length;
      answerResponses(res, current[Math.min(results, current.length - 1)]!, model, results);
      return;
    }
    const messages = (body.messages as { role?: string }[] | undefined) ?? [];
    const toolResults = messages.filter((m) => m.role === 'tool').length;
    const step = current[Math.min(toolResults, current.length - 1)]!;
    answer(res, step, body.stream === true, model, toolResults);
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    script: (next) => {
      current = next;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function json(res: ServerResponse, value: unknown, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

function answer(res: ServerResponse, step: ScriptStep, stream: boolean, model: string, n: number): void {
  const id = `chatcmpl-scripted-${n}`;
  const created = Math.floor(Date.now() / 1000);
  const usage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 };
  const toolCall = 'toolCall' in step
    ? { id: `call_${n}`, type: 'function', function: { name: step.toolCall.name, arguments: JSON.stringify(step.toolCall.arguments) } }
    : undefined;
  const finish = toolCall ? 'tool_calls' : 'stop';
  if (!stream) {
    const message = toolCall
      ? { role: 'assistant', content: null, tool_calls: [toolCall] }
      : { role: 'assistant', content: (step as { text: string }).text };
    json(res, { id, object: 'chat.completion', created, model, choices: [{ index: 0, message, finish_reason: finish }], usage });
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const send = (delta: Record<string, unknown>, finishReason: string | null, withUsage = false) =>
    res.write(`data: ${JSON.stringify({
      id, object: 'chat.completion.chunk', created, model,
      choices: [{ index: 0, delta, finish_reason: finishReason }], ...(withUsage ? { usage } : {}),
    })}\n\n`);
  send({ role: 'assistant' }, null);
  if (toolCall) send({ tool_calls: [{ index: 0, ...toolCall }] }, null);
  else send({ content: (step as { text: string }).text }, null);
  send({}, finish, true);
  res.end('data: [DONE]\n\n');
}

/**
 * One Responses API turn as SSE: created, the output item (a function call
 * or an assistant message), completed with usage. Codex waits for
 * response.completed and retries a stream that ends without it.
 */
function answerResponses(res: ServerResponse, step: ScriptStep, model: string, n: number): void {
  const id = `resp_scripted_${n}`;
  const item = 'toolCall' in step
    ? { type: 'function_call', id: `fc_${n}`, call_id: `call_${n}`, name: step.toolCall.name, arguments: JSON.stringify(step.toolCall.arguments), status: 'completed' }
    : { type: 'message', id: `msg_${n}`, role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: (step as { text: string }).text, annotations: [] }] };
  const usage = { input_tokens: 10, input_tokens_details: { cached_tokens: 0 }, output_tokens: 5, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 15 };
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const send = (event: Record<string, unknown> & { type: string }) => res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
  send({ type: 'response.created', response: { id, object: 'response', model, status: 'in_progress', output: [] } });
  send({ type: 'response.output_item.added', output_index: 0, item: { ...item, status: 'in_progress' } });
  send({ type: 'response.output_item.done', output_index: 0, item });
  send({ type: 'response.completed', response: { id, object: 'response', model, status: 'completed', output: [item], usage } });
  res.end();
}
