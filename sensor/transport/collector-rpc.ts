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
import { channelCredentials, type TlsFiles } from '../../proto/transport/tls.js';

export interface RpcTarget {
  address: string;
  tls?: TlsFiles;
  timeoutMs?: number;
}

function unary<Req, Res>(target: RpcTarget, path: string, req: Codec<Req>, res: Codec<Res>, request: Req): Promise<Res> {
  const address = parseAddress(target.address);
  const credentials = target.tls ? channelCredentials(target.tls) : grpc.credentials.createInsecure();
  const client = new grpc.Client(grpcTarget(address), credentials, { 'grpc.max_receive_message_length': -1 });
  const deadline = Date.now() + (target.timeoutMs ?? 5000);
  return new Promise<Res>((resolve, reject) => {
    client.makeUnaryRequest(path, req.encode, (b: Buffer) => res.decode(b), request, { deadline }, (err, value) => {
      client.close();
      if (err) reject(new Error(`collector at ${target.address}: ${err.details || err.message}`));
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
