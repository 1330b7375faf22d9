// Which BPF programs this process has attached, by name, read from the
// kernel rather than from what we asked for: each attachment is a bpf-link
// file descriptor whose fdinfo names the program's tag, and the kernel lists
// JIT-compiled programs in /proc/kallsyms as bpf_prog_<tag>_<name>. Reading
// the kernel's own view means a program that failed to attach, or that was
// detached behind our back, is not reported as attached.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * tag -> name of the BPF programs the kernel lists (names cut at 15 bytes by
 * the kernel), kept: a tag is a hash of the program's code, so its name does
 * not change. /proc/kallsyms is read again only for a tag not seen yet (it
 * is long: ~60 ms of the sensor's main thread per read).
 */
const namesByTag = new Map<string, string>();

function kallsymsNames(tags: ReadonlySet<string>): Map<string, string> {
  if ([...tags].every((t) => namesByTag.has(t))) return namesByTag;
  let text: string;
  try {
    text = readFileSync('/proc/kallsyms', 'utf8');
  } catch {
    return namesByTag;
  }
  for (const m of text.matchAll(/ bpf_prog_([0-9a-f]{16})_(\S+)/g)) {
    if (tags.has(m[1]!)) namesByTag.set(m[1]!, m[2]!);
  }
  return namesByTag;
}

/** Attached programs' names, sorted; a program the kernel does not name (no JIT symbols) as prog-id:<n>. */
export function attachedPrograms(pid: number | 'self' = 'self'): string[] {
  const tags = new Map<string, string>(); // tag -> prog id
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  for (const fd of fds) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (target !== 'anon_inode:bpf_link' && target !== 'anon_inode:bpf-link') continue; // the name has varied across kernels
      const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
      const tag = /^prog_tag:\s*([0-9a-f]{16})/m.exec(info)?.[1];
      const id = /^prog_id:\s*(\d+)/m.exec(info)?.[1];
      if (tag) tags.set(tag, id ?? '?');
    } catch {
      continue; // closed while we looked
    }
  }
  const names = kallsymsNames(new Set(tags.keys()));
  return [...new Set([...tags].map(([tag, id]) => names.get(tag) ?? `prog-id:${id}`))].sort();
}
