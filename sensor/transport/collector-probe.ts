// What is at a collector address, found out quickly, for one-line errors in
// `sensor status` (instead of grpc-js internals after a 5 s deadline):
// no socket there, nothing listening, or something that does not speak
// gRPC. A collector that is there passes in a few milliseconds.
import { connect, type Socket } from 'node:net';
import { statSync } from 'node:fs';
import { formatAddress, parseAddress, type CollectorAddress } from '../../proto/transport/address.js';

export class CollectorUnreachable extends Error {}

/** HTTP/2 connection preface and an empty SETTINGS frame (RFC 9113 3.4, 6.5). */
const H2_PREFACE = Buffer.concat([
  Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
  Buffer.from([0, 0, 0, 0x04, 0, 0, 0, 0, 0]),
]);
const FRAME_HEADER = 9;
const SETTINGS = 0x04;

function describeConnectError(where: string, err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED': return `no collector at ${where}: nothing listens there (connection refused)`;
    case 'ENOENT': return `no collector at ${where}: no such socket`;
    case 'EACCES': case 'EPERM': return `cannot reach ${where}: permission denied (the collector's socket is root's)`;
    case 'ENOTFOUND': case 'EAI_AGAIN': return `cannot reach ${where}: unknown host`;
    case 'ETIMEDOUT': return `cannot reach ${where}: connection timed out`;
    default: return `cannot reach ${where}: ${err.message}`;
  }
}

function open(address: CollectorAddress, timeoutMs: number, where: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = address.kind === 'unix' ? connect({ path: address.path }) : connect({ host: address.host, port: address.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new CollectorUnreachable(`cannot reach ${where}: no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new CollectorUnreachable(describeConnectError(where, err)));
    });
  });
}

/** Does the peer answer an HTTP/2 preface with a SETTINGS frame, as every gRPC server does? */
function speaksHttp2(socket: Socket, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.removeAllListeners('data');
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= FRAME_HEADER) done(got[3] === SETTINGS);
    });
    socket.once('close', () => done(false));
    socket.once('error', () => done(false));
    socket.write(H2_PREFACE);
  });
}

/**
 * Throws CollectorUnreachable with one line saying what is wrong at the
 * address, or returns when something there can be asked. `tls`: the peer
 * speaks TLS first, so only the connection is checked.
 */
export async function probeCollector(addressText: string, opts: { tls: boolean; timeoutMs?: number }): Promise<void> {
  const address = parseAddress(addressText);
  const where = address.kind === 'unix' ? `unix://${address.path}` : formatAddress(address);
  const timeoutMs = opts.timeoutMs ?? 1000;
  if (address.kind === 'unix') {
    try {
      if (!statSync(address.path).isSocket()) throw new CollectorUnreachable(`no collector at ${where}: it is not a socket`);
    } catch (err) {
      if (err instanceof CollectorUnreachable) throw err;
      throw new CollectorUnreachable(describeConnectError(where, err as NodeJS.ErrnoException));
    }
  }
  const socket = await open(address, timeoutMs, where);
  if (opts.tls) {
    socket.destroy();
    return;
  }
  if (!(await speaksHttp2(socket, timeoutMs))) {
    throw new CollectorUnreachable(`${where} is not an agent-sensor collector (it does not answer gRPC)`);
  }
}
