// Runs a command inside a cgroup so that its own execve is the first thing the
// kernel sees of it there: a shell writes its own pid into cgroup.procs (a
// builtin, no fork) and then execs the command in the same process. The
// shell's exec happened before the move, so it is not an agent event; the
// command's exec is, with the shell's pid, which becomes the instance's
// agentPid. If the move fails the command never runs (exit 126).
import { spawn, type ChildProcess } from 'node:child_process';
import { procsFile } from './cgroup-v2.js';

const SHIM = 'echo $$ > "$1" || { echo "sensor launch: cannot join the cgroup; not starting the command" >&2; exit 126; }; shift; exec "$@"';

export function spawnInCgroup(cgroup: string, command: string, args: string[]): ChildProcess {
  return spawn('/bin/sh', ['-c', SHIM, 'sensor-launch', procsFile(cgroup), command, ...args], { stdio: 'inherit' });
}
