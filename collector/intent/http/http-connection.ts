// Both directions of one captured connection: requests and responses paired
// in order (HTTP/1.1 keep-alive answers requests in the order they came,
// RFC 9112 9.3), with 1xx interim answers skipped. Which side is the client
// is known from the capture (the agent wrote the request).
import { HttpMessageParser, type HttpLimits, type HttpMessage } from './http-message-parser.js';

export interface HttpExchange {
  request: HttpMessage;
  /** absent when the connection ended before an answer was captured */
  response?: HttpMessage;
}

/** Requests waiting for an answer; more are dropped (counted) rather than kept. */
const MAX_PENDING_REQUESTS = 64;

export class HttpConnection {
  private readonly requests: HttpMessageParser;
  private readonly responses: HttpMessageParser;
  private readonly pending: HttpMessage[] = [];
  private readonly done: HttpExchange[] = [];
  unansweredDropped = 0;

  /**
   * requestOnly: the capture carries no answers on this connection (the
   * kernel captures plain sockets' sends only): each request is an exchange
   * as soon as it is whole, rather than when the connection closes.
   */
  constructor(limits: Partial<HttpLimits> = {}, private readonly requestOnly = false) {
    this.requests = new HttpMessageParser('request', { limits });
    this.responses = new HttpMessageParser('response', {
      limits,
      requestMethodForNextResponse: () => this.pending[0]?.method,
    });
  }

  /** Bytes the client (the agent) sent. */
  clientBytes(bytes: Uint8Array, missing = 0, tag?: number): HttpExchange[] {
    for (const req of this.requests.push(bytes, { missing, tag })) this.queue(req);
    return this.done.splice(0);
  }

  /** Bytes the server answered. */
  serverBytes(bytes: Uint8Array, missing = 0, tag?: number): HttpExchange[] {
    for (const res of this.responses.push(bytes, { missing, tag })) this.answer(res);
    return this.done.splice(0);
  }

  /** The connection closed (or its capture ended): everything left comes out. */
  close(cleanClose = true): HttpExchange[] {
    for (const req of this.requests.end({ cleanClose })) this.queue(req);
    for (const res of this.responses.end({ cleanClose })) this.answer(res);
    for (const request of this.pending.splice(0)) this.done.push({ request });
    return this.done.splice(0);
  }

  get stats() {
    return { requests: this.requests.stats, responses: this.responses.stats, unansweredDropped: this.unansweredDropped };
  }

  private queue(req: HttpMessage): void {
    if (this.requestOnly) {
      this.done.push({ request: req });
      return;
    }
    if (this.pending.length >= MAX_PENDING_REQUESTS) {
      this.done.push({ request: this.pending.shift()! });
      this.unansweredDropped++;
    }
    this.pending.push(req);
  }

  private answer(res: HttpMessage): void {
    if ((res.status ?? 0) < 200) return;
    if (this.pending.length === 0) for (const req of this.requests.interrupt()) this.queue(req);
    const request = this.pending.shift();
    // An answer without its request (capture started mid-connection) has
    // nothing to pair with; the request side is what tells the API apart.
    if (request) this.done.push({ request, response: res });
  }
}
