// Errors and refusals as gRPC sees them: one function maps our errors to a
// status, an interceptor logs every call that ends badly, and failed TLS
// handshakes (a sensor without a valid client certificate) are logged too.
import * as grpc from '@grpc/grpc-js';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { InvalidEventError } from '../../proto/codec/convert.js';
import { BatchRejectedError } from './batch-types.js';

export function grpcErrorFor(err: unknown): Partial<grpc.StatusObject> {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof BatchRejectedError || err instanceof InvalidEventError) {
    return { code: grpc.status.INVALID_ARGUMENT, details: message };
  }
  return { code: grpc.status.INTERNAL, details: message };
}

// SQLite conditions that pass (disk full, busy, I/O): a resend may succeed.
const RETRYABLE_SQLITE = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|NOMEM|INTERRUPT|PROTOCOL|READONLY)/;

/** Whether a store error is worth a resend, or the batch itself is the problem. */
export function isRetryableStoreError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && RETRYABLE_SQLITE.test(code)) return true;
  return err instanceof Error && /store is closed/.test(err.message);
}

/** Logs calls that end with an error status the handlers sent. */
export function statusLogger(log: Logger): grpc.ServerInterceptor {
  return (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      sendStatus: (status, next) => {
        if (status.code !== undefined && status.code !== grpc.status.OK) {
          log.warn({ method: method.path, code: grpc.status[status.code], details: status.details }, 'call ended with an error');
        }
        next(status);
      },
    });
}

/**
 * grpc-js does not expose its HTTP/2 servers; they sit in a private map.
 * Reaching in is the only way to see handshakes it drops silently, so this is
 * done defensively: if the shape changes we log that handshakes go unlogged.
 */
export function logFailedHandshakes(server: grpc.Server, log: Logger): void {
  const servers = (server as unknown as { http2Servers?: Map<unknown, unknown> }).http2Servers;
  if (!(servers instanceof Map)) {
    log.debug('cannot reach grpc-js listeners; failed TLS handshakes will not be logged');
    return;
  }
  for (const http2Server of servers.keys()) {
    const emitter = http2Server as { on?: (event: string, fn: (...args: unknown[]) => void) => void };
    emitter.on?.('tlsClientError', (err: unknown, socket: unknown) => {
      const s = socket as TLSSocket | undefined;
      log.warn(
        { peer: s ? `${s.remoteAddress}:${s.remotePort}` : undefined, err: err instanceof Error ? err.message : String(err) },
        'TLS handshake refused',
      );
    });
  }
}
