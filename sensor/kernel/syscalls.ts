// Syscall numbers the kernel records carry (open_event.syscall_nr), per
// architecture. arm64 has no open/creat: everything goes through openat.
import type { OpenSyscall } from '../../proto/events/types.js';

const OPEN_SYSCALLS: Record<string, Record<number, OpenSyscall>> = {
  x64: { 2: 'open', 85: 'creat', 257: 'openat', 437: 'openat2' },
  arm64: { 56: 'openat', 437: 'openat2' },
};

const table = OPEN_SYSCALLS[process.arch] ?? OPEN_SYSCALLS.x64;

/** Name of an open-family syscall; unknown numbers read as 'openat', the common case. */
export function openSyscallName(nr: number): OpenSyscall {
  return table[nr] ?? 'openat';
}
