// The LaunchControl service of sensor.proto (`sensor launch` -> `sensor run`):
// its message shapes, codecs and the grpc-js service definition, beside the
// Collector service's in ./proto.ts.
import type { ServiceDefinition } from '@grpc/grpc-js';
import { messageType, PROTO_PACKAGE, type Codec, type U64 } from './proto.js';
import protobuf from 'protobufjs';

export interface PbLaunchRequest { agent?: string; cgroup_path?: string }
export interface PbLaunchReply { cgroup_id?: U64; configured?: boolean }
export interface PbLaunchEndRequest { cgroup_path?: string }
export interface PbLaunchEndReply { removed?: boolean }

export const LAUNCH_SERVICE_NAME = `${PROTO_PACKAGE}.LaunchControl`;
export const LAUNCH_REGISTER_PATH = `/${LAUNCH_SERVICE_NAME}/Register`;
export const LAUNCH_END_PATH = `/${LAUNCH_SERVICE_NAME}/End`;

const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, defaults: false };

function codec<T>(name: string): Codec<T> {
  const type = messageType(name);
  return {
    type,
    encode: (value) => Buffer.from(type.encode(type.fromObject(value as object)).finish()),
    decode: (bytes) => type.toObject(type.decode(bytes), TO_OBJECT) as T,
  };
}

export interface LaunchCodecs {
  request: Codec<PbLaunchRequest>;
  reply: Codec<PbLaunchReply>;
  endRequest: Codec<PbLaunchEndRequest>;
  endReply: Codec<PbLaunchEndReply>;
}

let codecs: LaunchCodecs | undefined;

export function launchCodecs(): LaunchCodecs {
  codecs ??= {
    request: codec('LaunchRequest'),
    reply: codec('LaunchReply'),
    endRequest: codec('LaunchEndRequest'),
    endReply: codec('LaunchEndReply'),
  };
  return codecs;
}

export function launchServiceDefinition(): ServiceDefinition {
  const c = launchCodecs();
  const method = <Req, Res>(path: string, req: Codec<Req>, res: Codec<Res>) => ({
    path, requestStream: false, responseStream: false, originalName: path.split('/').pop(),
    requestSerialize: req.encode, requestDeserialize: (b: Buffer) => req.decode(b),
    responseSerialize: res.encode, responseDeserialize: (b: Buffer) => res.decode(b),
  });
  return {
    Register: method(LAUNCH_REGISTER_PATH, c.request, c.reply),
    End: method(LAUNCH_END_PATH, c.endRequest, c.endReply),
  } as ServiceDefinition;
}
