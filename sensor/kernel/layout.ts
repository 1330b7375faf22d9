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
  size: 72,
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
  },
} as const satisfies StructLayout;

const HDR = EVENT_HEADER.size;

export const EXEC_EVENT = {
  size: 96,
  fields: {
    hdr: f(0, HDR),
    start_ns: f(72, 8),
    filename_len: f(80, 4),
    argv_len: f(84, 4),
    argc: f(88, 4),
    _pad: f(92, 4),
    data: f(96, 0),
  },
} as const satisfies StructLayout;

export const FORK_EVENT = {
  size: 80,
  fields: {
    hdr: f(0, HDR),
    start_ns: f(72, 8),
  },
} as const satisfies StructLayout;

export const EXIT_EVENT = {
  size: 80,
  fields: {
    hdr: f(0, HDR),
    exit_code: f(72, 4),
    _pad: f(76, 4),
  },
} as const satisfies StructLayout;

export const OPEN_EVENT = {
  size: 96,
  fields: {
    hdr: f(0, HDR),
    result: f(72, 4),
    flags: f(76, 4),
    mode: f(80, 4),
    dirfd: f(84, 4),
    path_len: f(88, 2),
    dir_len: f(90, 2),
    syscall_nr: f(92, 4),
    data: f(96, 0),
  },
} as const satisfies StructLayout;

export const CONNECT_EVENT = {
  size: 224,
  fields: {
    hdr: f(0, HDR),
    result: f(72, 4),
    fd: f(76, 4),
    family: f(80, 2),
    port: f(82, 2),
    protocol: f(84, 2),
    sock_type: f(86, 2),
    flags: f(88, 4),
    path_len: f(92, 4),
    addr: f(96, 16),
    unix_path: f(112, UNIX_PATH_LEN),
    _pad: f(220, 4),
  },
} as const satisfies StructLayout;

export const UNLINK_EVENT = {
  size: 88,
  fields: {
    hdr: f(0, HDR),
    result: f(72, 4),
    flags: f(76, 4),
    path_len: f(80, 2),
    dir_len: f(82, 2),
    syscall_nr: f(84, 4),
    data: f(88, 0),
  },
} as const satisfies StructLayout;

/** rename* and link/symlink* share this record */
export const RENAME_EVENT = {
  size: 96,
  fields: {
    hdr: f(0, HDR),
    result: f(72, 4),
    flags: f(76, 4),
    path_len: f(80, 2),
    dir_len: f(82, 2),
    newpath_len: f(84, 2),
    newdir_len: f(86, 2),
    syscall_nr: f(88, 4),
    _pad: f(92, 4),
    data: f(96, 0),
  },
} as const satisfies StructLayout;

export const DNS_EVENT = {
  size: 104,
  fields: {
    hdr: f(0, HDR),
    fd: f(72, 4),
    family: f(76, 2),
    port: f(78, 2),
    addr: f(80, 16),
    payload_len: f(96, 4),
    flags: f(100, 4),
    data: f(104, 0),
  },
} as const satisfies StructLayout;

export const RULE_VALUE = {
  size: 8,
  fields: { agent_id: f(0, 4), flags: f(4, 4) },
} as const satisfies StructLayout;

export const TRACKED_PROC = {
  size: 8,
  fields: { agent_id: f(0, 4), flags: f(4, 4) },
} as const satisfies StructLayout;

/** C struct name -> layout; the layout test walks this table. */
export const STRUCTS: Record<string, StructLayout> = {
  event_header: EVENT_HEADER,
  exec_event: EXEC_EVENT,
  fork_event: FORK_EVENT,
  exit_event: EXIT_EVENT,
  open_event: OPEN_EVENT,
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
  LOST_BASE: 16,
  MAX: 32,
} as const;
