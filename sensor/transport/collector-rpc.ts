// One-shot calls to a collector: Status (for `sensor status`) and Query (for
// `sensor query --collector`). Each opens a channel, makes one call with a
// deadline and closes it.
import * as grpc from '@grpc/grpc-js';
import type { SensorEvent } from '../../proto/events/types.js';
import { grpcTarget, parseAddress } from '../../proto/transport/address.js';
import { fromProtoEvent } from '../../proto/codec/convert.js';
import {
  protoCodecs, QUERY_PATH, STATUS_PATH, type Codec, type PbQueryRequest, type PbStatusResponse,
} from '../../proto/codec/proto.js';
import { clientChannel, type TlsFiles } from '../../proto/transport/tls.js';

export interface RpcTarget {
  address: string;
  tls?: TlsFiles;
  timeoutMs?: number;
}

/** One line for a failed call, without grpc-js internals ("Resolution note", "LB pick"). */
export function describeRpcError(address: string, path: string, timeoutMs: number, err: grpc.ServiceError): string {
  switch (err.code) {
    case grpc.status.UNIMPLEMENTED:
      return `${address} is not an agent-sensor collector (it has no ${path})`;
    case grpc.status.DEADLINE_EXCEEDED:
      return `the collector at ${address} did not answer within ${timeoutMs / 1000} s`;
    case grpc.status.UNAVAILABLE: {
      const last = /Last error: (?:Error: )?(.*?)(?:\. Resolution note|$)/s.exec(err.details ?? '');
      return `cannot reach the collector at ${address}${last?.[1] ? `: ${last[1].trim()}` : ''}`;
    }
    default:
      return `collector at ${address}: ${err.details || err.message}`;
  }
}

function unary<Req, Res>(target: RpcTarget, path: string, req: Codec<Req>, res: Codec<Res>, request: Req): Promise<Res> {
  const address = parseAddress(target.address);
  const tls = target.tls ? clientChannel(address, target.tls) : undefined;
  const client = new grpc.Client(grpcTarget(address), tls?.credentials ?? grpc.credentials.createInsecure(),
    { 'grpc.max_receive_message_length': -1, ...tls?.options });
  const timeoutMs = target.timeoutMs ?? 5000;
  const deadline = Date.now() + timeoutMs;
  return new Promise<Res>((resolve, reject) => {
    client.makeUnaryRequest(path, req.encode, (b: Buffer) => res.decode(b), request, { deadline }, (err, value) => {
      client.close();
      if (err) reject(new Error(describeRpcError(target.address, path, timeoutMs, err)));
      else resolve(value as Res);
    });
  });
}

export function collectorStatus(target: RpcTarget): Promise<PbStatusResponse> {
  const c = protoCodecs();
  return unary(target, STATUS_PATH, c.statusRequest, c.statusResponse, {});
}

export interface QueriedEvent {
  id: bigint;
  sensorId: string;
  event: SensorEvent;
}

export async function queryCollector(target: RpcTarget, request: PbQueryRequest): Promise<QueriedEvent[]> {
  const c = protoCodecs();
  const answer = await unary(target, QUERY_PATH, c.queryRequest, c.queryResponse, request);
  return (answer.events ?? []).map((e) => ({
    id: BigInt(e.id ?? '0'),
    sensorId: e.sensor_id ?? '',
    event: fromProtoEvent(e.event ?? {}),
  }));
}
