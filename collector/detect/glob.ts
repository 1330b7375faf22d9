// Path globs of grants: `*` any run without `/`, `**` any run (`**/` any
// directories or none), `?` one character without `/`, `{a,b}` either.
// `~` at the start is the instance's home and `{cwd}` its working directory
// at start; both are expanded before the glob is compiled.

const escape = (c: string): string => c.replace(/[.+^$|()[\]\\]/g, '\\$&');

export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        if (glob[i + 2] === '/') {
          re += '(?:.*/)?';
          i += 2;
        } else {
          re += '.*';
          i += 1;
        }
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '{') {
      const end = glob.indexOf('}', i);
      if (end < 0) {
        re += '\\{';
        continue;
      }
      re += `(?:${glob.slice(i + 1, end).split(',').map((alt) => globToRegExp(alt).source.slice(1, -1)).join('|')})`;
      i = end;
    } else {
      re += escape(c);
    }
  }
  return new RegExp(`^${re}$`, 's');
}

/** `~` and `{cwd}` expanded; null when the glob needs one the instance lacks. */
export function expandGlob(glob: string, home: string | null, cwd: string | null): string | null {
  let g = glob;
  if (g === '~' || g.startsWith('~/')) {
    if (!home) return null;
    g = home.replace(/\/$/, '') + g.slice(1);
  }
  if (g.includes('{cwd}')) {
    if (!cwd) return null;
    g = g.split('{cwd}').join(cwd.replace(/\/$/, ''));
  }
  return g;
}
