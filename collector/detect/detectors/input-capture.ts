// What the user types, sees and copies. An agent has no business reading
// the keyboard, taking the screen or reading the clipboard on its own: a
// password typed or copied from a password manager is one read away.
// - Input devices: an open of /dev/input/* or /dev/hidraw* (a keylogger's
//   source, T1056.001), or of /dev/uinput (typing into other windows, as if
//   the user did): high.
// - By command line: a screenshot of the whole screen (import -window root,
//   scrot, gnome-screenshot, spectacle, grim, maim, xwd -root, ffmpeg
//   x11grab/kmsgrab, T1113), the clipboard read (xclip -o, xsel -o, wl-paste,
//   T1115), keystrokes sent (xdotool type/key): medium.
// The agent's own program starting such a tool itself is excused (Claude Code
// reads an image from the clipboard when the user pastes one); its shell
// tool's commands are not.
import { z } from 'zod';
import { defineDetector } from '../detector.js';
import { basename, isAgentProgram } from './credential-use.js';

const KEYBOARD = /^\/dev\/(?:input\/|hidraw\d)/;
const INJECT = /^\/dev\/uinput$/;

interface Capture { what: string; attack: string }

function captureShape(name: string, args: string[]): Capture | undefined {
  const has = (...words: string[]) => words.some((w) => args.includes(w));
  const screen = (): Capture => ({ what: 'the screen captured', attack: 'T1113' });
  if (name === 'import' && args.join(' ').includes('-window root')) return screen();
  if (/^(?:scrot|gnome-screenshot|spectacle|grim|maim|flameshot|xfce4-screenshooter|ksnip)$/.test(name)) return screen();
  if (name === 'xwd' && has('-root')) return screen();
  if (/^ffmpeg$/.test(name) && args.some((a) => /^(?:x11grab|kmsgrab)$/.test(a))) return screen();
  if (name === 'xclip' && args.some((a) => /^-o(?:ut)?$/.test(a))) return { what: 'the clipboard read', attack: 'T1115' };
  if (name === 'xsel' && args.some((a) => a === '--output' || /^-[a-zA-Z]*o/.test(a))) return { what: 'the clipboard read', attack: 'T1115' };
  if (name === 'wl-paste') return { what: 'the clipboard read', attack: 'T1115' };
  if (name === 'xdotool' && has('type', 'key', 'keydown')) return { what: 'keystrokes sent to other windows', attack: 'T1056' };
  return undefined;
}

export default defineDetector({
  meta: {
    id: 'input_capture',
    title: 'Keyboard, screen or clipboard captured',
    description: 'Opens /dev/input/*, /dev/hidraw* or /dev/uinput (high); a screenshot of the whole screen, a clipboard read or keystrokes sent by command line (medium); not when the agent\'s own program starts the tool.',
    severity: 'medium',
    attack: ['T1056.001', 'T1113', 'T1115'],
    falsePositives: 'A screenshot or clipboard read the user asked the agent for through its shell tool.',
    phase: 'always',
    params: z.object({}).strict(),
  },
  newState: () => null,
  onEvent(ev, { agent, proc }) {
    const e = ev.event;
    const self = ev.features.proc;
    const who = () => (self ? self.argv.join(' ').slice(0, 160) : `pid ${e.pid}`);
    if (e.type === 'open' && ev.features.file?.ok) {
      const path = ev.features.file.path;
      if (KEYBOARD.test(path) || INJECT.test(path)) {
        const what = INJECT.test(path) ? 'the input injection device' : 'an input device';
        return [{ severity: 'high', subject: path, summary: `${agent.name} opened ${path}, ${what}, by ${who()} [T1056.001]`, evidence: [ev.id] }];
      }
    }
    if (e.type !== 'exec' || !self) return undefined;
    const shape = captureShape(basename(self.exe), self.argv.slice(1));
    if (!shape) return undefined;
    if (isAgentProgram(self.ppid, proc(self.ppid), ev.instance)) return undefined; // the agent's own feature (a pasted image)
    return [{ subject: `argv:${self.argv.slice(0, 3).join(' ')}`, summary: `${agent.name} ran ${who()}: ${shape.what} [${shape.attack}]`, evidence: [ev.id] }];
  },
});
