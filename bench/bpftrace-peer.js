// The peer: bpftrace printing one line per open/connect/exec event of the
// agent (filtered on comm in the kernel), as a bpftrace-based tool would.
export function printingScript(comm) {
  return `
tracepoint:syscalls:sys_enter_openat /comm == "${comm}"/ { @p[tid] = args->filename; }
tracepoint:syscalls:sys_exit_openat /@p[tid]/ { printf("open %d %s %d\\n", pid, str(@p[tid]), args->ret); delete(@p[tid]); }
tracepoint:syscalls:sys_enter_connect /comm == "${comm}"/ { printf("connect %d %d\\n", pid, args->fd); }
tracepoint:sched:sched_process_exec /comm == "${comm}" || comm == "true"/ { printf("exec %d %s\\n", pid, str(args->filename)); }
tracepoint:sched:sched_process_fork /comm == "${comm}"/ { printf("fork %d %d\\n", args->parent_pid, args->child_pid); }
`;
}
