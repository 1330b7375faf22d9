// Collector addresses as users write them, and as grpc-js wants them.
//   unix:///run/agent-sensor/collector.sock, unix:/path, /abs/path  -> a unix socket
//   host:port, [v6]:port                                          -> TCP (mutual TLS)
// Port 0 asks the kernel for a free port when listening (tests).
export const DEFAULT_SOCKET_DIR = '/run/agent-sensor';
export const DEFAULT_SOCKET_PATH = `${DEFAULT_SOCKET_DIR}/collector.sock`;
export const DEFAULT_COLLECTOR_ADDRESS = `unix://${DEFAULT_SOCKET_PATH}`;

export type CollectorAddress =
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string; port: number };

export function parseAddress(text: string): CollectorAddress {
  const trimmed = text.trim();
  if (trimmed.startsWith('unix://')) return unixAddress(trimmed.slice('unix://'.length), text);
  if (trimmed.startsWith('unix:')) return unixAddress(trimmed.slice('unix:'.length), text);
  if (trimmed.startsWith('/')) return unixAddress(trimmed, text);
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(trimmed);
  if (!m) throw new Error(`not a collector address: ${JSON.stringify(text)} (want unix:///path/to.sock or host:port)`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`port out of range in ${JSON.stringify(text)}`);
  return { kind: 'tcp', host: m[1] ?? m[2]!, port };
}

function unixAddress(path: string, original: string): CollectorAddress {
  if (!path.startsWith('/')) throw new Error(`unix socket path must be absolute: ${JSON.stringify(original)}`);
  return { kind: 'unix', path };
}

/** The target string grpc-js understands for this address. */
export function grpcTarget(address: CollectorAddress): string {
  if (address.kind === 'unix') return `unix://${address.path}`;
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

export function formatAddress(address: CollectorAddress): string {
  return grpcTarget(address);
}
