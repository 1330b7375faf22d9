// What a shell tool call asked to run, in the forms an exec can take. A model
// asks for `cat ~/.ssh/id_rsa`; the agent runs `bash -lc "cat ~/.ssh/id_rsa"`
// (Codex sends the argv itself: ["bash","-lc","..."]); bash then execs
// `cat /home/u/.ssh/id_rsa` after expanding `~`. So a call is matched either
// by the shell exec that carries the script, or by one of the script's simple
// commands, argument by argument, with the words the shell would expand
// ($VAR, globs, command substitution) matching anything.
import { basename } from 'node:path';
import { isRecord, type ToolCall } from '../turn.js';

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'busybox', 'fish']);
const MAX_SCRIPT = 64 * 1024;
const MAX_WORDS = 4096;

/** A word of a simple command; `wild` when the shell would expand it. */
export interface Word { text: string; wild: boolean }

export interface ShellIntent {
  /** the script text, unwrapped from `bash -lc` layers */
  script: string;
  /** the simple commands of the script, as words */
  commands: Word[][];
}

/** The command a tool call runs, or undefined when it is not a shell call. */
export function shellIntentOf(call: ToolCall): ShellIntent | undefined {
  const input = isRecord(call.input) ? call.input : undefined;
  if (!input) return undefined;
  const raw = input.command ?? input.cmd ?? input.script;
  let script: string | undefined;
  if (typeof raw === 'string') script = raw;
  else if (Array.isArray(raw) && raw.every((a) => typeof a === 'string')) script = unwrapArgv(raw as string[]);
  if (script === undefined || script.trim() === '') return undefined;
  script = unwrapScript(script.slice(0, MAX_SCRIPT));
  return { script, commands: simpleCommands(script) };
}

/** ["bash","-lc","X"] -> "X"; any other argv -> its words quoted back into a script. */
export function unwrapArgv(argv: string[]): string {
  const script = shellScriptOfArgv(argv);
  if (script !== undefined) return script;
  return argv.map(quoteWord).join(' ');
}

/** The -c script of a shell argv, or undefined when argv is not `<shell> [-opts] -c SCRIPT`. */
export function shellScriptOfArgv(argv: string[]): string | undefined {
  if (argv.length < 3 || !SHELLS.has(basename(argv[0]))) return undefined;
  let i = 1;
  if (basename(argv[0]) === 'busybox') { if (!SHELLS.has(argv[1] ?? '')) return undefined; i = 2; }
  for (; i < argv.length - 1; i++) {
    const a = argv[i];
    if (!a.startsWith('-') && !a.startsWith('+')) return undefined;
    if (/^-[a-zA-Z]*c[a-zA-Z]*$/.test(a)) return argv[i + 1];
  }
  return undefined;
}

/**
 * Gemini CLI and Qwen Code run a command as
 * `bash -c "{ CMD; }; __code=$?; pgrep -g 0 >TMP 2>&1; exit $__code;"`
 * to learn the background processes it left; the command is CMD.
 */
const PGREP_WRAPPER = /^\{ ([\s\S]*?);? \}; __code=\$\?; pgrep -g 0 >\S+ 2>&1; exit \$__code;?$/;

/** `bash -lc "cat x"` as a script string -> `cat x` (repeatedly). */
export function unwrapScript(script: string): string {
  for (let i = 0; i < 4; i++) {
    const wrapped = PGREP_WRAPPER.exec(script.trim());
    if (wrapped) { script = wrapped[1]; continue; }
    const cmds = simpleCommands(script);
    if (cmds.length !== 1 || cmds[0].some((w) => w.wild)) return script.trim();
    const inner = shellScriptOfArgv(cmds[0].map((w) => w.text));
    if (inner === undefined) return script.trim();
    script = inner;
  }
  return script.trim();
}

function quoteWord(w: string): string {
  return /^[A-Za-z0-9_./=:,@%+-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

/**
 * Words of each simple command in a script: POSIX quoting (single, double,
 * backslash), split at ; & | && || newlines and parentheses; redirections and
 * leading VAR=value assignments dropped. Not a shell: enough to compare with
 * the argv the kernel saw.
 */
export function simpleCommands(script: string): Word[][] {
  const out: Word[][] = [];
  let cmd: Word[] = [];
  let text = '';
  let wild = false;
  let inWord = false;
  let redirect = false;
  let words = 0;
  const endWord = () => {
    if (!inWord) return;
    if (redirect) redirect = false;
    else if (!(cmd.length === 0 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(text) && !wild)) cmd.push({ text, wild });
    text = ''; wild = false; inWord = false;
    words++;
  };
  const endCmd = () => {
    endWord();
    if (cmd.length) out.push(cmd);
    cmd = [];
  };
  for (let i = 0; i < script.length && words < MAX_WORDS; i++) {
    const c = script[i];
    if (c === '\\') {
      if (i + 1 < script.length && script[i + 1] !== '\n') { text += script[++i]; inWord = true; } else i++;
    } else if (c === "'") {
      const j = script.indexOf("'", i + 1);
      const end = j < 0 ? script.length : j;
      text += script.slice(i + 1, end); inWord = true; i = end;
    } else if (c === '"') {
      inWord = true;
      for (i++; i < script.length && script[i] !== '"'; i++) {
        if (script[i] === '\\' && i + 1 < script.length && '$`"\\\n'.includes(script[i + 1])) { text += script[++i]; continue; }
        if (script[i] === '$' || script[i] === '`') wild = true;
        text += script[i];
      }
    } else if (c === ' ' || c === '\t') endWord();
    else if (c === '\n' || c === ';' || c === '&' || c === '|' || c === '(' || c === ')') endCmd();
    else if ((c === '>' || c === '<') && !inWord) { redirect = true; while (script[i + 1] === '>' || script[i + 1] === '&' || script[i + 1] === '<') i++; }
    else if (c === '#' && !inWord) { const j = script.indexOf('\n', i); i = j < 0 ? script.length : j - 1; }
    else {
      if (c === '$' || c === '`' || c === '*' || c === '?' || c === '[' || (c === '{' && script.includes('}', i))) wild = true;
      text += c; inWord = true;
    }
  }
  endCmd();
  return out;
}

/** Does an exec argv run (part of) this shell intent? `home` expands a leading ~. */
export function argvMatchesIntent(argv: string[], intent: ShellIntent, home?: string): 'shell' | 'command' | undefined {
  const script = shellScriptOfArgv(argv);
  if (script !== undefined && unwrapScript(script) === intent.script) return 'shell';
  for (const words of intent.commands) if (wordsMatch(argv, words, home)) return 'command';
  return undefined;
}

function wordsMatch(argv: string[], words: Word[], home?: string): boolean {
  if (argv.length === 0 || words.length === 0) return false;
  // A word the shell expands may become any number of words: compare the
  // words before the first such one, and require at least that many args.
  const firstWild = words.findIndex((w) => w.wild);
  if (firstWild === 0) return false;
  const fixed = firstWild < 0 ? words.length : firstWild;
  if (firstWild < 0 ? argv.length !== words.length : argv.length < fixed) return false;
  if (basename(argv[0]) !== basename(words[0].text)) return false;
  for (let i = 1; i < fixed; i++) {
    const w = words[i];
    if (argv[i] === w.text) continue;
    if (home && (w.text === '~' || w.text.startsWith('~/')) && argv[i] === home + w.text.slice(1)) continue;
    return false;
  }
  return true;
}
