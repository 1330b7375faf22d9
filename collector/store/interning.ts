// Repeated strings stored once: byte strings in `strings`, agent names in
// `agents`. Lookups go through a bounded in-memory cache; the writer must
// call forget() when a transaction rolls back, and after retention swept
// strings, since cached ids may then no longer exist. Every id handed out is
// remembered until takeUsed(), so the commit can stamp it with its batch.
import type Database from 'better-sqlite3';

const CACHE_MAX = 100_000;

export class StringWriter {
  private ids = new Map<string, number>();
  private idsByBuffer = new WeakMap<Buffer, number>();
  private used = new Set<number>();
  private agentIds = new Map<string, number>();
  private readonly select: Database.Statement<[Buffer], { id: number }>;
  private readonly insert: Database.Statement<[Buffer]>;
  private readonly selectAgent: Database.Statement<[string], { id: number }>;
  private readonly insertAgent: Database.Statement<[string]>;

  constructor(db: Database.Database) {
    this.select = db.prepare('SELECT id FROM strings WHERE bytes = ?');
    this.insert = db.prepare('INSERT INTO strings (bytes) VALUES (?)');
    this.selectAgent = db.prepare('SELECT id FROM agents WHERE name = ?');
    this.insertAgent = db.prepare('INSERT INTO agents (name) VALUES (?)');
  }

  /** track=false: the caller stamps the row itself (file rows, written after their batch). */
  id(bytes: Buffer, track = true): number {
    // The same Buffer object again (event-rows shares them for repeated strings): no key to build.
    let id = this.idsByBuffer.get(bytes);
    if (id === undefined) {
      const key = bytes.toString('latin1'); // one char per byte: exact and cheap
      id = this.ids.get(key);
      if (id === undefined) {
        id = this.select.get(bytes)?.id ?? Number(this.insert.run(bytes).lastInsertRowid);
        if (this.ids.size >= CACHE_MAX) this.forgetIds();
        this.ids.set(key, id);
      }
      this.idsByBuffer.set(bytes, id);
    }
    if (track) this.used.add(id);
    return id;
  }

  touch(id: number | null): void {
    if (id !== null) this.used.add(id);
  }

  /** JSON array of the ids used since the last call (for json_each). */
  takeUsed(): string {
    const ids = JSON.stringify([...this.used]);
    this.used.clear();
    return ids;
  }

  optionalId(bytes: Buffer | null): number | null {
    return bytes === null ? null : this.id(bytes);
  }

  agentId(name: string | null): number | null {
    if (name === null) return null;
    let id = this.agentIds.get(name);
    if (id === undefined) {
      id = this.selectAgent.get(name)?.id ?? Number(this.insertAgent.run(name).lastInsertRowid);
      this.agentIds.set(name, id);
    }
    return id;
  }

  private forgetIds(): void {
    this.ids.clear();
    this.idsByBuffer = new WeakMap();
  }

  forget(): void {
    this.forgetIds();
    this.agentIds.clear();
    this.used.clear();
  }
}

/** Id -> bytes for readers (verify, queries). Works on a read-only handle. */
export class StringReader {
  private bytesById = new Map<number, Buffer>();
  private agentById = new Map<number, string>();
  private readonly select: Database.Statement<[number], { bytes: Buffer }>;
  private readonly selectAgent: Database.Statement<[number], { name: string }>;

  constructor(db: Database.Database) {
    this.select = db.prepare('SELECT bytes FROM strings WHERE id = ?');
    this.selectAgent = db.prepare('SELECT name FROM agents WHERE id = ?');
  }

  /** Missing ids read as a marker, so verify reports a mismatch instead of crashing. */
  bytes(id: number | null): Buffer | null {
    if (id === null) return null;
    let b = this.bytesById.get(id);
    if (b === undefined) {
      b = this.select.get(id)?.bytes ?? Buffer.from(`\0missing string ${id}\0`);
      if (this.bytesById.size >= CACHE_MAX) this.bytesById.clear();
      this.bytesById.set(id, b);
    }
    return b;
  }

  agent(id: number | null): string | null {
    if (id === null) return null;
    let n = this.agentById.get(id);
    if (n === undefined) {
      n = this.selectAgent.get(id)?.name ?? `\0missing agent ${id}\0`;
      this.agentById.set(id, n);
    }
    return n;
  }

  /** Look up an existing string's id without creating it (query filters). */
  static find(db: Database.Database, bytes: Buffer): number | null {
    const row = db.prepare('SELECT id FROM strings WHERE bytes = ?').get(bytes) as { id: number } | undefined;
    return row ? row.id : null;
  }
}
