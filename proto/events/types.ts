// The typed events every backend yields and every consumer (watch, the
// collector, the SIEM output) speaks. Field names are the JSON names.
//
// Byte-exact strings: paths, argv and comm come from the kernel as bytes and
// are not always UTF-8. In memory they are `string`s decoded as latin1-free
// UTF-8 when valid; when a value is not valid UTF-8 it is carried as
// `{ b64: "<base64 of the raw bytes>" }` instead (see ./bytes.ts), so JSON
// output is byte-exact and a consumer can tell the two apart.

export type ByteString = string | { b64: string };

export type EventType = 'exec' | 'fork' | 'exit' | 'open' | 'connect' | 'unlink' | 'rename' | 'link' | 'dns';

export interface EventBase {
  type: EventType;
  /** ISO-8601 UTC with nanoseconds, e.g. 2026-11-28T11:40:35.123456789Z */
  ts: string;
  /** epoch nanoseconds, as a decimal string (exact; JSON numbers are not) */
  tsNs: string;
  pid: number;
  tid: number;
  ppid: number;
  uid: number;
  gid: number;
  comm: ByteString;
  /** agent name, or null when the process is not an agent (--all mode) */
  agent: string | null;
  cgroupId: string;
  netns: number;
  mntns: number;
  /**
   * pid of the root process of this agent instance (the process a rule
   * matched at exec, a candidate confirmed from argv, or an agent found
   * running at start), inherited by every descendant; 0 when not an agent.
   * Every sensor event has it; optional only for events stored before it
   * existed.
   */
  agentPid?: number;
  /** a path, argv or payload was cut to fit the kernel record */
  truncated?: boolean;
  /**
   * exec/fork: the process is an agent's but the kernel could not track it
   * (its tracked-process map was full): nothing more of it will be seen
   */
  untracked?: boolean;
  /** exit: the process made 32-bit (compat) syscalls, which are not seen */
  compat?: boolean;
  /**
   * open, unlink, rename, link: the caller's path buffer changed while the
   * call ran (another thread rewrote it). For an open, `path` is the file
   * the kernel opened and `rawPath` what the buffer held when the call was
   * entered; for the others `path` is what it held at entry.
   */
  argChanged?: boolean;
}

export interface ExecEvent extends EventBase {
  type: 'exec';
  filename: ByteString;
  argv: ByteString[];
  /** process start time, boot ns as a decimal string: (pid, startNs) names a process */
  startNs: string;
  /**
   * the file the kernel executed (symlinks resolved) and the working
   * directory, both taken in the kernel at exec; absent when unknown, not
   * absolute when longer than 4 KiB
   */
  exe?: ByteString;
  cwd?: ByteString;
  /**
   * HOME in the environment it started with, on an agent root's exec: what
   * `~` means for that instance (read by the sensor from /proc; absent when
   * unset, not a directory its uid owns, or the process was gone)
   */
  home?: ByteString;
}

export interface ForkEvent extends EventBase {
  type: 'fork'; // pid is the child, ppid the parent
  startNs: string;
}

export interface ExitEvent extends EventBase {
  type: 'exit';
  /** exit status (0-255) when the process exited normally, else null */
  code: number | null;
  /** terminating signal number, or null */
  signal: number | null;
}

export type OpenSyscall = 'open' | 'creat' | 'openat' | 'openat2';

/**
 * The inode a successful open returned, as the kernel saw it then: which
 * file (dev, ino) and which version of it (size, times). The collector links
 * a version it hashed before without looking at the path again, and knows
 * when the file at the path is no longer the one the agent opened.
 */
export interface OpenedInode {
  /** st_dev as stat(2) reports it */
  dev: number;
  /** u64s as decimal strings */
  ino: string;
  /** i_generation: tells a file from a later one given the same inode number (0: the file system keeps none) */
  generation: number;
  /** st_mode: file type and permission bits */
  mode: number;
  size: string;
  mtimeNs: string;
  ctimeNs: string;
}

export interface OpenEvent extends EventBase {
  type: 'open';
  /**
   * a successful open: the path of the file the kernel opened (from the fd:
   * symlinks and '..' resolved as the kernel did); a failed one: the
   * caller's path made absolute and lexically normalised
   */
  path: ByteString;
  /** the path exactly as the process passed it, when that is not `path` */
  rawPath?: ByteString;
  flags: number;
  mode: number;
  /** 'read' | 'write' | 'readwrite' from O_ACCMODE; O_CREAT/O_TRUNC count as write */
  access: 'read' | 'write' | 'readwrite';
  /** fd, or -errno */
  result: number;
  syscall: OpenSyscall;
  /** the inode opened (a successful open, from the kernel); absent when unknown */
  inode?: OpenedInode;
  /** set by the collector once the content is hashed */
  sha256?: string;
}

export interface ConnectEvent extends EventBase {
  type: 'connect';
  family: 'inet' | 'inet6' | 'unix' | 'other';
  proto: 'tcp' | 'udp' | 'raw' | 'unix' | 'other';
  /** IP address text, or the unix socket path ("@name" for abstract) */
  addr: ByteString;
  port: number;
  /** 0 or -errno; -115 (EINPROGRESS) for a non-blocking connect in progress */
  result: number;
  /** seen through sendto/sendmsg on an unconnected datagram socket */
  datagram?: boolean;
  /** host name this address was resolved from by the same agent, if seen */
  host?: string;
}

export interface UnlinkEvent extends EventBase {
  type: 'unlink';
  path: ByteString;
  rmdir: boolean;
  result: number;
}

export interface RenameEvent extends EventBase {
  type: 'rename';
  path: ByteString;
  newpath: ByteString;
  flags: number;
  result: number;
}

export interface LinkEvent extends EventBase {
  type: 'link';
  /** for a symlink: the target text as given; for a hard link: the existing file */
  path: ByteString;
  newpath: ByteString;
  symbolic: boolean;
  result: number;
}

export interface DnsEvent extends EventBase {
  type: 'dns';
  /** the question's name and type (of the query, or the one a response answers) */
  qname: string;
  qtype: string;
  /** the DNS server (destination of a query, source of a response) */
  addr: string;
  port: number;
  /** a response received by the agent, not a query it sent */
  response?: boolean;
  /** response only: NOERROR, NXDOMAIN, ... */
  rcode?: string;
  /** response only: addresses qname resolved to, CNAME chains followed; [] for none */
  answers?: string[];
  /** response only, with answers: the smallest TTL (seconds) behind them */
  ttl?: number;
}

export type SensorEvent =
  | ExecEvent | ForkEvent | ExitEvent | OpenEvent | ConnectEvent
  | UnlinkEvent | RenameEvent | LinkEvent | DnsEvent;

/** Kernel event type numbers (bpf/events.h enum event_type); the proto matches. */
export const EVENT_TYPE_NUMBER: Record<EventType, number> = {
  exec: 1, fork: 2, exit: 3, open: 4, connect: 5, unlink: 6, rename: 7, link: 8, dns: 9,
};
