// Lexical path normalisation on raw bytes. Kernel paths are not always UTF-8,
// so '.' / '..' / '//' are resolved on the byte level and only the result is
// turned into a ByteString. Lexical only: symlinks are not followed (the
// kernel record carries the directory the syscall resolved against, so a
// relative path becomes the absolute path the process named).
const SLASH = 0x2f;
const DOT = 0x2e;

/**
 * true when p[start, end) is absolute and has no '.', '..' or empty segment,
 * nor a trailing slash: already normal (the common case, checked without
 * allocating).
 */
export function isCleanAbsolute(p: Uint8Array, start = 0, end = p.length): boolean {
  if (end <= start || p[start] !== SLASH) return false;
  if (end - start === 1) return true;
  if (p[end - 1] === SLASH) return false;
  for (let i = start; i < end; i++) {
    if (p[i] !== SLASH) continue;
    const n = p[i + 1];
    if (n === SLASH) return false;
    if (n === DOT) {
      if (i + 2 >= end || p[i + 2] === SLASH) return false;
      if (p[i + 2] === DOT && (i + 3 >= end || p[i + 3] === SLASH)) return false;
    }
  }
  return true;
}

/**
 * `dir` + '/' + `raw`, normalised. An absolute `raw` ignores `dir`. When both
 * are relative (the kernel could not name the directory) the result stays
 * relative rather than inventing a root.
 */
export function joinNormalise(dir: Uint8Array, raw: Uint8Array): Buffer {
  const absolute = raw.length > 0 && raw[0] === SLASH;
  if (absolute && isCleanAbsolute(raw)) return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const rooted = absolute || (dir.length > 0 && dir[0] === SLASH);
  const segments: Uint8Array[] = [];
  if (!absolute) pushSegments(dir, segments, rooted);
  pushSegments(raw, segments, rooted);
  let len = rooted ? 1 : 0;
  for (const s of segments) len += s.length + 1;
  if (segments.length > 0) len -= 1;
  if (!rooted && segments.length === 0) return Buffer.from('.');
  const out = Buffer.allocUnsafe(len);
  let o = 0;
  if (rooted) out[o++] = SLASH;
  for (let i = 0; i < segments.length; i++) {
    if (i > 0) out[o++] = SLASH;
    out.set(segments[i], o);
    o += segments[i].length;
  }
  return out;
}

function pushSegments(p: Uint8Array, segments: Uint8Array[], rooted: boolean): void {
  let start = 0;
  for (let i = 0; i <= p.length; i++) {
    if (i < p.length && p[i] !== SLASH) continue;
    const len = i - start;
    if (len === 0 || (len === 1 && p[start] === DOT)) {
      // empty or '.': nothing
    } else if (len === 2 && p[start] === DOT && p[start + 1] === DOT) {
      const last = segments[segments.length - 1];
      const lastIsDotDot = last !== undefined && last.length === 2 && last[0] === DOT && last[1] === DOT;
      if (last !== undefined && !lastIsDotDot) segments.pop();
      else if (!rooted) segments.push(p.subarray(start, i)); // '..' above a relative start is kept
      // '..' at the root stays at the root
    } else {
      segments.push(p.subarray(start, i));
    }
    start = i + 1;
  }
}
