// New alerts to every open page as server-sent events: one poller of the
// store (listAlerts after the last id seen) shared by all subscribers, so
// ten open tabs cost one query every half second.
import type Database from 'better-sqlite3';
import type { ServerResponse } from 'node:http';
import { listAlerts } from '../../collector/store/alert-query.js';
import { alertJson } from '../cli/commands/alerts.js';

const POLL_MS = 500;
const KEEPALIVE_MS = 15_000;

export class LiveAlerts {
  private readonly clients = new Set<ServerResponse>();
  private lastId: number;
  private timer: NodeJS.Timeout | null = null;
  private sinceKeepalive = 0;

  constructor(private readonly db: Database.Database) {
    this.lastId = listAlerts(db, { limit: 1 })[0]?.id ?? 0;
  }

  subscribe(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(`retry: 1000\n: cursor ${this.lastId}\n\n`);
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
    this.timer ??= setInterval(() => this.poll(), POLL_MS);
  }

  private poll(): void {
    let fresh;
    try {
      fresh = listAlerts(this.db, { afterId: this.lastId, limit: 500 });
    } catch (err) {
      for (const c of this.clients) c.write(`event: error\ndata: ${JSON.stringify({ error: (err as Error).message })}\n\n`);
      return;
    }
    this.sinceKeepalive += POLL_MS;
    for (const a of fresh) {
      this.lastId = Math.max(this.lastId, a.id);
      const msg = `event: alert\nid: ${a.id}\ndata: ${JSON.stringify(alertJson(a))}\n\n`;
      for (const c of this.clients) c.write(msg);
    }
    if (this.sinceKeepalive >= KEEPALIVE_MS) {
      this.sinceKeepalive = 0;
      for (const c of this.clients) c.write(': keepalive\n\n');
    }
    if (!this.clients.size && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    for (const c of this.clients) c.end();
    this.clients.clear();
  }
}
