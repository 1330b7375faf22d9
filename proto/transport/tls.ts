// Mutual TLS material for TCP between sensor and collector: both sides
// present a certificate signed by the same CA and check the other's.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { CollectorAddress } from './address.js';

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

/**
 * A client's TLS files for this address: TCP needs all three (the collector
 * refuses TCP without mutual TLS, so starting without them would only retry
 * forever), a unix socket needs none.
 */
export function clientTlsFor(address: CollectorAddress, files: TlsFiles | undefined): TlsFiles | undefined {
  if (address.kind === 'unix') return undefined;
  if (!files) throw new Error('a TCP collector needs mutual TLS: give --tls-ca, --tls-cert and --tls-key (or use a unix:// socket)');
  return files;
}

/** SNI sent when the collector is named by an IP address, which cannot be a TLS server name. */
const IP_SERVERNAME = 'agent-sensor-collector';

/**
 * Credentials and channel options for a client of `address`. An IP address
 * is not a valid TLS server name (RFC 6066; Node warns when given one), so
 * for an IP the name sent is a placeholder and the certificate is still
 * checked against the IP (its subjectAltName IP entry).
 */
export function clientChannel(address: CollectorAddress, files: TlsFiles): { credentials: grpc.ChannelCredentials; options: grpc.ChannelOptions } {
  const ip = address.kind === 'tcp' && isIP(address.host) ? address.host : null;
  const credentials = grpc.credentials.createSsl(readFileSync(files.ca), readFileSync(files.key), readFileSync(files.cert),
    ip ? { checkServerIdentity: (_name, cert) => checkServerIdentity(ip, cert) } : undefined);
  return { credentials, options: ip ? { 'grpc.ssl_target_name_override': IP_SERVERNAME } : {} };
}

export function channelCredentials(files: TlsFiles): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(readFileSync(files.ca), readFileSync(files.key), readFileSync(files.cert));
}
