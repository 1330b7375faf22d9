// GET /metrics for Prometheus, on a loopback address only: the figures name
// agents, destinations and volumes, which are nobody else's business; a
// remote scraper goes through a proxy or an SSH tunnel the operator chooses.
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { isIP } from 'node:net';

export interface MetricsEndpoint {
  url: string;
  close(): Promise<void>;
}

export function parseLoopbackListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
  if (!m) throw new Error(`--metrics wants HOST:PORT on loopback, e.g. 127.0.0.1:9464 (got ${JSON.stringify(text)})`);
  const host = (m[1] ?? m[2])!;
  const port = Number(m[3]);
  const loopback = host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  if (!loopback) throw new Error(`--metrics listens on loopback only (127.0.0.0/8, ::1, localhost); ${host} is not`);
  if (port < 1 || port > 65535) throw new Error(`--metrics: ${port} is not a TCP port`);
  return { host, port };
}

export function startMetricsServer(listen: string, registry: Registry): Promise<MetricsEndpoint> {
  const { host, port } = parseLoopbackListen(listen);
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const a = server.address() as { address: string; port: number };
      resolve({
        url: `http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}/metrics`,
        close: () => new Promise((r) => server.close(() => r())),
      });
    });
  });
}
