// Byte offsets of every record in bpf/events.h, as the C compiler lays them
// out. The decoder reads only through these names; test/layout.test.ts checks
// each struct's size and each field's offset against the BTF of the compiled
// BPF object, so a change to events.h that is not mirrored here fails a test
// instead of silently shifting fields.

/** `enum event_type` */
export const EV = {
  EXEC: 1,
  FORK: 2,
  EXIT: 3,
  OPEN: 4,
  CONNECT: 5,
  UNLINK: 6,
  RENAME: 7,
  LINK: 8,
  DNS: 9,
  MAX: 10,
} as const;

/** `hdr.flags` */
export const EVF_PENDING = 1 << 0;
export const EVF_TRUNCATED = 1 << 1;
export const EVF_PATH_LATE = 1 << 2;
export const EVF_ARG_CHANGED = 1 << 3;
export const EVF_UNTRACKED = 1 << 4;
export const EVF_COMPAT = 1 << 5;
export const EVF_KPATH_SAME = 1 << 6;

export const CONNF_DATAGRAM = 1 << 0;
export const UNLF_RMDIR = 1 << 0;
export const LNKF_SYMBOLIC = 1 << 0;
export const DNSF_RESPONSE = 1 << 0;
export const RULEF_CANDIDATE = 1 << 0;

export const COMM_LEN = 16;
export const UNIX_PATH_LEN = 108;
export const EXE_RULE_LEN = 256;

/** A field: byte offset and size (arrays: whole array size). */
export interface FieldLayout {
  offset: number;
  size: number;
}

export interface StructLayout {
  /** sizeof(struct ...) */
  size: number;
  fields: Record<string, FieldLayout>;
}

const f = (offset: number, size: number): FieldLayout => ({ offset, size });

export const EVENT_HEADER = {
  size: 80,
  fields: {
    type: f(0, 2),
    flags: f(2, 2),
    size: f(4, 4),
    ts_ns: f(8, 8),
    pid: f(16, 4),
    tid: f(20, 4),
    ppid: f(24, 4),
    uid: f(28, 4),
    gid: f(32, 4),
    agent_id: f(36, 4),
    cgroup_id: f(40, 8),
    netns: f(48, 4),
    mntns: f(52, 4),
    comm: f(56, COMM_LEN),
    agent_pid: f(72, 4),
    _pad: f(76, 4),
  },
} as const satisfies StructLayout;

const HDR = EVENT_HEADER.size;

export const EXEC_EVENT = {
  size: 104,
  fields: {
    hdr: f(0, HDR),
    start_ns: f(80, 8),
    filename_len: f(88, 4),
    argv_len: f(92, 4),
    argc: f(96, 4),
    exe_len: f(100, 2),
    cwd_len: f(102, 2),
    data: f(104, 0),
  },
} as const satisfies StructLayout;

export const FORK_EVENT = {
  size: 88,
  fields: {
    hdr: f(0, HDR),
    start_ns: f(80, 8),
  },
} as const satisfies StructLayout;

export const EXIT_EVENT = {
  size: 88,
  fields: {
    hdr: f(0, HDR),
    exit_code: f(80, 4),
    _pad: f(84, 4),
  },
} as const satisfies StructLayout;

/** the inode a successful open returned (mode 0: none) */
export const FILE_IDENTITY = {
  size: 48,
  fields: {
    dev: f(0, 4), mode: f(4, 4), ino: f(8, 8), generation: f(16, 4), _pad: f(20, 4), size: f(24, 8), mtime_ns: f(32, 8), ctime_ns: f(40, 8),
  },
} as const satisfies StructLayout;

export const OPEN_EVENT = {
  size: 152,
  fields: {
    hdr: f(0, HDR),
    result: f(80, 4),
    flags: f(84, 4),
    mode: f(88, 4),
    dirfd: f(92, 4),
    path_len: f(96, 2),
    dir_len: f(98, 2),
    syscall_nr: f(100, 2),
    kpath_len: f(102, 2),
    opened: f(104, FILE_IDENTITY.size),
    data: f(152, 0),
  },
} as const satisfies StructLayout;

export const CONNECT_EVENT = {
  size: 232,
  fields: {
    hdr: f(0, HDR),
    result: f(80, 4),
    fd: f(84, 4),
    family: f(88, 2),
    port: f(90, 2),
    protocol: f(92, 2),
    sock_type: f(94, 2),
    flags: f(96, 4),
    path_len: f(100, 4),
    addr: f(104, 16),
    unix_path: f(120, UNIX_PATH_LEN),
    _pad: f(228, 4),
  },
} as const satisfies StructLayout;

export const UNLINK_EVENT = {
  size: 96,
  fields: {
    hdr: f(0, HDR),
    result: f(80, 4),
    flags: f(84, 4),
    path_len: f(88, 2),
    dir_len: f(90, 2),
    syscall_nr: f(92, 4),
    data: f(96, 0),
  },
} as const satisfies StructLayout;

/** rename* and link/symlink* share this record */
export const RENAME_EVENT = {
  size: 104,
  fields: {
    hdr: f(0, HDR),
    result: f(80, 4),
    flags: f(84, 4),
    path_len: f(88, 2),
    dir_len: f(90, 2),
    newpath_len: f(92, 2),
    newdir_len: f(94, 2),
    syscall_nr: f(96, 4),
    _pad: f(100, 4),
    data: f(104, 0),
  },
} as const satisfies StructLayout;

export const DNS_EVENT = {
  size: 112,
  fields: {
    hdr: f(0, HDR),
    fd: f(80, 4),
    family: f(84, 2),
    port: f(86, 2),
    addr: f(88, 16),
    payload_len: f(104, 4),
    flags: f(108, 4),
    data: f(112, 0),
  },
} as const satisfies StructLayout;

export const RULE_VALUE = {
  size: 8,
  fields: { agent_id: f(0, 4), flags: f(4, 4) },
} as const satisfies StructLayout;

export const TRACKED_PROC = {
  size: 24,
  fields: { agent_id: f(0, 4), flags: f(4, 4), start_ns: f(8, 8), agent_pid: f(16, 4), _pad: f(20, 4) },
} as const satisfies StructLayout;

/** C struct name -> layout; the layout test walks this table. */
export const STRUCTS: Record<string, StructLayout> = {
  event_header: EVENT_HEADER,
  exec_event: EXEC_EVENT,
  fork_event: FORK_EVENT,
  exit_event: EXIT_EVENT,
  open_event: OPEN_EVENT,
  file_identity: FILE_IDENTITY,
  connect_event: CONNECT_EVENT,
  unlink_event: UNLINK_EVENT,
  rename_event: RENAME_EVENT,
  dns_event: DNS_EVENT,
  rule_value: RULE_VALUE,
  tracked_proc: TRACKED_PROC,
};

/** `enum counter` (per-CPU counters map indices) */
export const COUNTER = {
  TRUNCATED: 0,
  PENDING_FULL: 1,
  TRACKED_FULL: 2,
  STALE: 3,
  RESTARTED: 4,
  COMPAT: 5,
  LOST_BASE: 16,
  MAX: 32,
} as const;
