// Synthetic events that claim to come from this very process: its pid and
// its mount namespace, so the collector may hash the files they name (it
// hashes only where it can attribute a file to the reader's namespace).
import { readlinkSync } from 'node:fs';

export const OWN_MNTNS = Number(/\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/mnt'))![1]);
export const THIS_PROCESS = { pid: process.pid, tid: process.pid, mntns: OWN_MNTNS } as const;
