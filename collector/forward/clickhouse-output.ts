// ClickHouse over its HTTP interface: INSERT ... FORMAT JSONEachRow, one
// request per table per batch. HTTP 200 means the rows are in, so records
// settle at once (settleMs 0). The tables are created on first use
// (clickhouse-tables.ts).
import { request } from 'node:http';
import type { ForwardRecord } from './ocsf-common.js';
import type { ForwardOutput } from './output.js';
import { checkIdentifier, createStatements, rowLine } from './clickhouse-tables.js';

export interface ClickHouseTarget {
  host: string;
  port: number;
  database: string;
  user?: string;
  password?: string;
  timeoutMs?: number;
}

export class ClickHouseOutput implements ForwardOutput {
  readonly name: string;
  readonly settleMs = 0;
  readonly epoch = 0;
  private created = false;

  constructor(private readonly target: ClickHouseTarget) {
    checkIdentifier(target.database);
    this.name = `clickhouse+http://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}/${target.database}`;
  }

  async send(records: ForwardRecord[]): Promise<void> {
    if (!this.created) {
      for (const sql of createStatements(this.target.database)) await this.query(sql);
      this.created = true;
    }
    const byTable = new Map<string, string[]>();
    for (const r of records) {
      const { table, line } = rowLine(r);
      let lines = byTable.get(table);
      if (!lines) byTable.set(table, (lines = []));
      lines.push(line);
    }
    try {
      for (const [table, lines] of byTable) {
        await this.query(`INSERT INTO ${this.target.database}.${table} FORMAT JSONEachRow`, `${lines.join('\n')}\n`);
      }
    } catch (err) {
      this.created = false; // a server that came back empty gets its tables again on the retry
      throw err;
    }
  }

  /** Runs one statement; the response body (TabSeparated unless the SQL says otherwise). */
  query(sql: string, body?: string): Promise<string> {
    const t = this.target;
    const headers: Record<string, string> = { 'Content-Type': 'text/plain; charset=utf-8' };
    if (t.user !== undefined) headers.Authorization = `Basic ${Buffer.from(`${t.user}:${t.password ?? ''}`).toString('base64')}`;
    const payload = body === undefined ? sql : body;
    const path = body === undefined ? '/' : `/?query=${encodeURIComponent(sql)}`;
    return new Promise((resolve, reject) => {
      const req = request({ host: t.host, port: t.port, method: 'POST', path, headers, timeout: t.timeoutMs ?? 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 200) resolve(text);
          else reject(new Error(`${this.name}: HTTP ${res.statusCode}: ${text.slice(0, 300).trim()}`));
        });
        res.on('error', (e) => reject(new Error(`${this.name}: ${e.message}`)));
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (e) => reject(new Error(`${this.name}: ${e.message}`)));
      req.end(payload);
    });
  }

  async close(): Promise<void> {
    // HTTP requests hold no connection between sends
  }
}
