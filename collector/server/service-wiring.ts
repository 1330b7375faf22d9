// How the collector's gRPC service is wired into grpc-js: per-method
// (de)serializers (the fast batch decoder, undecoded batches for the store
// worker, pre-encoded Query answers, logging of malformed requests) and the
// HTTP/2 window settings grpc-js has no option for. Kept apart from the
// server's logic (collector-server.ts), which only calls these.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { decodeEventBatch } from '../../proto/codec/batch-decoder.js';

/** A batch left undecoded for a store that takes wire bytes. */
export interface EncodedBatch {
  encoded: Buffer;
}

// HTTP/2 flow control: with the default 64 KiB receive windows a sensor can
// send only a third of a 2000-event batch, then waits for a WINDOW_UPDATE the
// collector sends only between commits, so transfer and commit alternate
// instead of overlapping (measured ~1.5x slower). 2 MiB lets about ten batches
// wait while one commits; much more (16 MiB measured) makes the collector
// commit a long run of batches before its acks go out. grpc-js has no server
// option for it, so its settings are widened here; if its internals change,
// this does nothing and only speed is lost.
const RECEIVE_WINDOW_BYTES = 2 * 1024 * 1024;

export function widenReceiveWindow(server: grpc.Server): void {
  const common = (server as unknown as { commonServerOptions?: { settings?: Record<string, unknown> } }).commonServerOptions;
  if (common) common.settings = { ...common.settings, initialWindowSize: RECEIVE_WINDOW_BYTES };
}

export function widenSessionWindows(server: grpc.Server): void {
  const servers = (server as unknown as { http2Servers?: Map<NodeJS.EventEmitter, unknown> }).http2Servers;
  for (const h2 of servers?.keys() ?? []) {
    h2.on('session', (session: { setLocalWindowSize?: (n: number) => void }) => {
      try {
        session.setLocalWindowSize?.(RECEIVE_WINDOW_BYTES);
      } catch {
        // an older Node: the stream windows above still apply
      }
    });
  }
}

/** Query answers already encoded (by the query worker) go out as they are. */
export function withPreEncodedQueryAnswers(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const q = service.Query!;
  return { ...service, Query: { ...q, responseSerialize: (v: unknown) => (Buffer.isBuffer(v) ? v : q.responseSerialize(v)) } };
}

/** Stream batches through the hand-written decoder (wire bytes straight to SensorEvents). */
export function withFastBatchDecoder(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  return { ...service, Stream: { ...service.Stream!, requestDeserialize: (bytes: Buffer) => decodeEventBatch(bytes) } };
}

/** Stream batches left as bytes, for a store that decodes them where it commits. */
export function withUndecodedBatches(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  return { ...service, Stream: { ...service.Stream!, requestDeserialize: (bytes: Buffer): EncodedBatch => ({ encoded: bytes }) } };
}

/** Logs requests that are not valid protobuf; grpc-js then fails the call with INTERNAL. */
export function withDecodeLogging(service: grpc.ServiceDefinition, log: Logger): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(service)) {
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return method.requestDeserialize(bytes);
        } catch (err) {
          log.warn({ method: method.path, bytes: bytes.length, err: err instanceof Error ? err.message : String(err) }, 'malformed request refused');
          throw err;
        }
      },
    };
  }
  return out as grpc.ServiceDefinition;
}
