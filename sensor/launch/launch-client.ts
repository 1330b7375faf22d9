// `sensor launch`'s calls to the running `sensor run` (LaunchControl over its
// unix socket). Errors come back as one line a user can act on.
import * as grpc from '@grpc/grpc-js';
import { grpcTarget, parseAddress } from '../../proto/transport/address.js';
import {
  launchCodecs, LAUNCH_END_PATH, LAUNCH_REGISTER_PATH, type PbLaunchEndReply, type PbLaunchReply,
} from '../../proto/codec/launch-proto.js';
import type { Codec } from '../../proto/codec/proto.js';

export class LaunchRpcError extends Error {
  constructor(readonly code: grpc.status, message: string) {
    super(message);
  }
}

function unary<Req, Res>(address: string, path: string, req: Codec<Req>, res: Codec<Res>, request: Req, timeoutMs: number): Promise<Res> {
  const target = parseAddress(address);
  if (target.kind !== 'unix') throw new Error(`sensor launch talks to a local sensor over its unix socket, not ${address}`);
  const client = new grpc.Client(grpcTarget(target), grpc.credentials.createInsecure());
  return new Promise<Res>((resolve, reject) => {
    client.makeUnaryRequest(path, req.encode, (b: Buffer) => res.decode(b), request, { deadline: Date.now() + timeoutMs }, (err, value) => {
      client.close();
      if (err) reject(new LaunchRpcError(err.code, explain(address, err)));
      else resolve(value as Res);
    });
  });
}

function explain(address: string, err: grpc.ServiceError): string {
  switch (err.code) {
    case grpc.status.UNAVAILABLE:
    case grpc.status.DEADLINE_EXCEEDED:
      return `no sensor answers at ${address} (is \`sensor run\` running?): ${err.details}`;
    case grpc.status.UNIMPLEMENTED:
      return `the collector at ${address} runs without a sensor (\`sensor collector\`); launch needs a running \`sensor run\``;
    default:
      return `the sensor at ${address} refused: ${err.details}`;
  }
}

export function registerLaunch(address: string, agent: string, cgroupPath: string, timeoutMs = 10_000): Promise<PbLaunchReply> {
  const c = launchCodecs();
  return unary(address, LAUNCH_REGISTER_PATH, c.request, c.reply, { agent, cgroup_path: cgroupPath }, timeoutMs);
}

export function endLaunch(address: string, cgroupPath: string, timeoutMs = 5_000): Promise<PbLaunchEndReply> {
  const c = launchCodecs();
  return unary(address, LAUNCH_END_PATH, c.endRequest, c.endReply, { cgroup_path: cgroupPath }, timeoutMs);
}
