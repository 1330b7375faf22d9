// Mutual TLS material for TCP between sensor and collector: both sides
// present a certificate signed by the same CA and check the other's.
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/** All three paths or none: half a TLS configuration is a mistake worth an error. */
export function tlsFilesFromOptions(opts: { tlsCa?: string; tlsCert?: string; tlsKey?: string }): TlsFiles | undefined {
  const given = [opts.tlsCa, opts.tlsCert, opts.tlsKey].filter((v) => v !== undefined).length;
  if (given === 0) return undefined;
  if (given !== 3) throw new Error('mutual TLS needs all of --tls-ca, --tls-cert and --tls-key');
  return { ca: opts.tlsCa!, cert: opts.tlsCert!, key: opts.tlsKey! };
}

export function serverCredentials(files: TlsFiles): grpc.ServerCredentials {
  return grpc.ServerCredentials.createSsl(
    readFileSync(files.ca),
    [{ cert_chain: readFileSync(files.cert), private_key: readFileSync(files.key) }],
    true, // checkClientCertificate: a sensor without a CA-signed certificate is refused
  );
}

export function channelCredentials(files: TlsFiles): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(readFileSync(files.ca), readFileSync(files.key), readFileSync(files.cert));
}
