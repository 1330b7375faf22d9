// Where the agents keep their session transcripts under a user's home, and a
// poller that reads what was appended since the last poll into model turns.
// Every directory walked and every file read must belong to the user (see
// owned-file-reader.ts); symlinks are never followed; the walk is bounded.
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelTurn } from '../turn.js';
import { tryJson } from '../turn.js';
import { ClaudeCodeTranscript } from './claude-code-transcript.js';
import { CodexTranscript } from './codex-transcript.js';
import { GeminiCliTranscript } from './gemini-cli-transcript.js';
import { newTailState, readNewLines, readOwnedWhole, type TailState } from './owned-file-reader.js';
import { QwenCodeTranscript } from './qwen-code-transcript.js';

export type TranscriptFormat = 'claude-code' | 'codex' | 'gemini-cli-json' | 'gemini-cli-jsonl' | 'qwen-code-json' | 'qwen-code-jsonl';

export interface TranscriptFile { path: string; format: TranscriptFormat }

interface Root { dir: string; depth: number; pick(name: string, parent: string): TranscriptFormat | undefined }

const ROOTS: Root[] = [
  { dir: '.claude/projects', depth: 3, pick: (n) => (n.endsWith('.jsonl') ? 'claude-code' : undefined) },
  { dir: '.codex/sessions', depth: 5, pick: (n) => (n.endsWith('.jsonl') ? 'codex' : undefined) },
  { dir: '.gemini/tmp', depth: 4, pick: (n, p) => (p === 'chats' ? (n.endsWith('.jsonl') ? 'gemini-cli-jsonl' : n.endsWith('.json') ? 'gemini-cli-json' : undefined) : undefined) },
  { dir: '.qwen/tmp', depth: 4, pick: (n, p) => (p === 'chats' ? (n.endsWith('.jsonl') ? 'qwen-code-jsonl' : n.endsWith('.json') ? 'qwen-code-json' : undefined) : undefined) },
  { dir: '.qwen/projects', depth: 4, pick: (n) => (n.endsWith('.jsonl') ? 'qwen-code-jsonl' : undefined) },
];

export const MAX_TRANSCRIPT_FILES = 10_000;
export const MAX_SESSION_DOCUMENT_BYTES = 32 * 1024 * 1024;

/** Transcript files under `home` that belong to `uid`. */
export function discoverTranscripts(home: string, uid: number, maxFiles = MAX_TRANSCRIPT_FILES): TranscriptFile[] {
  const out: TranscriptFile[] = [];
  for (const root of ROOTS) {
    const walk = (dir: string, depth: number, parentName: string): void => {
      if (out.length >= maxFiles) return;
      let st;
      try { st = lstatSync(dir); } catch { return; }
      if (!st.isDirectory() || st.uid !== uid) return;
      let entries;
      try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return; }
      for (const e of entries) {
        if (out.length >= maxFiles) return;
        const path = join(dir, e.name);
        if (e.isDirectory() && depth > 0) walk(path, depth - 1, e.name);
        else if (e.isFile()) {
          const format = root.pick(e.name, parentName);
          if (format) out.push({ path, format });
        }
      }
    };
    // The home and the agent's folder must be the user's as well.
    const [top] = root.dir.split('/');
    try {
      const h = lstatSync(home);
      const t = lstatSync(join(home, top));
      if (!h.isDirectory() || !t.isDirectory() || t.uid !== uid) continue;
    } catch { continue; }
    walk(join(home, root.dir), root.depth, '');
  }
  return out;
}

type LineParser = { line(r: unknown): ModelTurn[] };

interface FileState { tail: TailState; parser: LineParser | GeminiCliTranscript; wholeKey?: string }

export interface PollResult {
  turns: ModelTurn[];
  /** files refused (owner, type) or unreadable, with the reason */
  errors: Array<{ path: string; error: string }>;
  linesSkipped: number;
}

/** Reads transcripts of one user incrementally; state per file is kept here. */
export class TranscriptPoller {
  private readonly files = new Map<string, FileState>();

  constructor(private readonly uid: number) {}

  poll(files: TranscriptFile[]): PollResult {
    const res: PollResult = { turns: [], errors: [], linesSkipped: 0 };
    for (const f of files) {
      try {
        res.turns.push(...this.pollOne(f, res));
      } catch (err) {
        res.errors.push({ path: f.path, error: err instanceof Error ? err.message : String(err) });
      }
    }
    return res;
  }

  private pollOne(f: TranscriptFile, res: PollResult): ModelTurn[] {
    let st = this.files.get(f.path);
    if (!st) {
      st = { tail: newTailState(), parser: parserFor(f.format) };
      this.files.set(f.path, st);
    }
    if (f.format === 'gemini-cli-json' || f.format === 'qwen-code-json') {
      const whole = readOwnedWhole(f.path, this.uid, MAX_SESSION_DOCUMENT_BYTES);
      if (!whole) { res.linesSkipped++; return []; }
      const key = `${whole.inode}:${whole.size}:${whole.text.length}`;
      if (key === st.wholeKey) return [];
      st.wholeKey = key;
      return (st.parser as GeminiCliTranscript).document(whole.text);
    }
    const r = readNewLines(f.path, this.uid, st.tail);
    res.linesSkipped += r.longLinesSkipped;
    const turns: ModelTurn[] = [];
    for (const line of r.lines) {
      const rec = tryJson(line);
      if (rec === undefined) { res.linesSkipped++; continue; }
      const p = st.parser;
      turns.push(...(p instanceof GeminiCliTranscript ? p.message(rec) : p.line(rec)));
    }
    return turns;
  }
}

function parserFor(format: TranscriptFormat): LineParser | GeminiCliTranscript {
  switch (format) {
    case 'claude-code': return new ClaudeCodeTranscript();
    case 'codex': return new CodexTranscript();
    case 'gemini-cli-json': case 'gemini-cli-jsonl': return new GeminiCliTranscript('gemini-cli');
    case 'qwen-code-json': return new GeminiCliTranscript('qwen-code');
    case 'qwen-code-jsonl': return new QwenCodeTranscript();
  }
}
