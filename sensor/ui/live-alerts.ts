// New alerts to every open page as server-sent events. One poller of the
// store (listAlerts after the oldest cursor) serves all subscribers, so ten
// open tabs cost one query every half second.
//
// Each stream ends after HOLD_MS and the browser's EventSource reconnects
// with Last-Event-ID, from which the feed resumes: nothing is lost between
// two streams, and a page never holds a request open for long. (A request
// that never completes stops a headless browser's virtual clock, e.g.
// `chromium --dump-dom --virtual-time-budget`, and holds proxies' slots.)
import type Database from 'better-sqlite3';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listAlerts, type StoredAlert } from '../../collector/store/alert-query.js';
import { alertJson } from '../cli/commands/alerts.js';

const POLL_MS = 500;
const HOLD_MS = 2000;
/** the browser waits this long before reconnecting: the worst extra delay of an alert */
const RETRY_MS = 500;

interface Client {
  res: ServerResponse;
  cursor: number;
  ends: number;
}

export class LiveAlerts {
  private readonly clients = new Set<Client>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly db: Database.Database) {}

  private latestId(): number {
    return listAlerts(this.db, { limit: 1 })[0]?.id ?? 0;
  }

  subscribe(req: IncomingMessage, res: ServerResponse): void {
    const last = Number(req.headers['last-event-id']);
    const cursor = Number.isSafeInteger(last) && last >= 0 ? last : this.latestId();
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    res.write(`retry: ${RETRY_MS}\n: from alert ${cursor}\n\n`);
    const client: Client = { res, cursor, ends: Date.now() + HOLD_MS };
    this.clients.add(client);
    res.on('close', () => this.clients.delete(client));
    this.poll(); // a reconnecting page gets what it missed at once
    this.timer ??= setInterval(() => this.poll(), POLL_MS);
  }

  private poll(): void {
    if (!this.clients.size) {
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
      return;
    }
    const from = Math.min(...[...this.clients].map((c) => c.cursor));
    let fresh: StoredAlert[];
    try {
      fresh = listAlerts(this.db, { afterId: from, limit: 500 });
    } catch (err) {
      fresh = [];
      for (const c of this.clients) c.res.write(`event: error\ndata: ${JSON.stringify({ error: (err as Error).message })}\n\n`);
    }
    const now = Date.now();
    for (const c of this.clients) {
      for (const a of fresh) {
        if (a.id <= c.cursor) continue;
        c.res.write(`event: alert\nid: ${a.id}\ndata: ${JSON.stringify(alertJson(a))}\n\n`);
        c.cursor = a.id;
      }
      if (now >= c.ends) {
        // The last id sent is the browser's Last-Event-ID; repeat it so a quiet stream resumes from its cursor too.
        c.res.end(`id: ${c.cursor}\n\n`);
        this.clients.delete(c);
      }
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }
}
