// Syslog over TCP or TLS (RFC 5425 carries RFC 5424 messages with octet-
// counting framing, which is also what rsyslog's imtcp accepts on plain TCP).
// One connection, reopened on the next send after it drops. Syslog has no
// acknowledgement: see output.ts for how settleMs and epoch make delivery
// at-least-once anyway on a connection that closes or resets.
import { connect as tcpConnect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { ForwardRecord } from './ocsf-common.js';
import type { ForwardOutput } from './output.js';
import { octetFrame, syslogMessage } from './syslog-format.js';

export interface SyslogTarget {
  host: string;
  port: number;
  tls?: { ca?: string; cert?: string; key?: string; servername?: string };
  connectTimeoutMs?: number;
  settleMs?: number;
}

export const SYSLOG_SETTLE_MS = 1000;

export class SyslogOutput implements ForwardOutput {
  readonly name: string;
  readonly settleMs: number;
  private socket: Socket | TLSSocket | null = null;
  private epochValue = 0;

  constructor(private readonly target: SyslogTarget) {
    this.name = `syslog+${target.tls ? 'tls' : 'tcp'}://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
    this.settleMs = target.settleMs ?? SYSLOG_SETTLE_MS;
  }

  get epoch(): number {
    return this.epochValue;
  }

  async send(records: ForwardRecord[]): Promise<void> {
    const socket = this.socket ?? (await this.open());
    const frames = Buffer.concat(records.map((r) => octetFrame(syslogMessage(r))));
    await new Promise<void>((resolve, reject) => {
      socket.write(frames, (err) => (err ? reject(err) : resolve()));
    });
    if (socket.destroyed) throw new Error(`${this.name}: connection closed while sending`);
  }

  async close(): Promise<void> {
    const s = this.socket;
    this.socket = null;
    if (!s) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { s.destroy(); resolve(); }, 2000);
      s.end(() => { clearTimeout(t); resolve(); });
    });
  }

  private open(): Promise<Socket | TLSSocket> {
    const t = this.target;
    return new Promise((resolve, reject) => {
      const tls = t.tls;
      const socket = tls
        ? tlsConnect({
          host: t.host, port: t.port, servername: tls.servername ?? (/^[\d.:]+$/.test(t.host) ? undefined : t.host),
          ca: tls.ca ? readFileSync(tls.ca) : undefined, cert: tls.cert ? readFileSync(tls.cert) : undefined,
          key: tls.key ? readFileSync(tls.key) : undefined,
        })
        : tcpConnect({ host: t.host, port: t.port });
      const timer = setTimeout(() => socket.destroy(new Error(`${this.name}: connect timed out`)), t.connectTimeoutMs ?? 10_000);
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(new Error(`${this.name}: ${err.message}`));
      };
      socket.once('error', fail);
      socket.once(tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.off('error', fail);
        socket.setKeepAlive(true, 10_000);
        socket.setNoDelay(true);
        // A syslog server sends nothing; data or end means it is going away.
        socket.on('data', () => undefined);
        socket.on('error', () => undefined); // 'close' follows and does the work
        socket.once('close', () => {
          if (this.socket === socket) this.socket = null;
          this.epochValue++;
        });
        this.socket = socket;
        resolve(socket);
      });
    });
  }
}
