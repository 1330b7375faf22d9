// Who may talk to the collector over its unix socket is decided by the file
// system: the folder is 0700 and the socket 0600, both root's, so only root
// connects; anyone else gets EACCES from connect(2) and never reaches us.
// The folder is made with its mode before the socket exists, so there is no
// moment in which the socket is reachable with looser permissions.
import { chmodSync, chownSync, existsSync, lstatSync, unlinkSync } from 'node:fs';
import { makeDirs } from '../make-dirs.js';
import { createConnection } from 'node:net';
import { dirname } from 'node:path';
import { DEFAULT_SOCKET_DIR } from '../../proto/transport/address.js';

export const SOCKET_DIR_MODE = 0o700;
export const SOCKET_MODE = 0o600;

/** Creates the socket's folder (0700) and removes a stale socket a dead collector left. */
export async function prepareSocketPath(path: string): Promise<void> {
  const dir = dirname(path);
  if (!existsSync(dir)) {
    makeDirs(dir, SOCKET_DIR_MODE);
    chmodSync(dir, SOCKET_DIR_MODE); // mkdir's mode is filtered by the umask
  } else if (dir === DEFAULT_SOCKET_DIR) {
    chmodSync(dir, SOCKET_DIR_MODE); // our own folder: repair it; a user's folder we leave alone
  }
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  if (await somebodyListens(path)) {
    throw new Error(`a collector already listens on ${path}; stop it or choose another --listen address`);
  }
  unlinkSync(path);
}

/** Right after bind: the socket is root's and 0600. */
export function lockDownSocket(path: string): void {
  chmodSync(path, SOCKET_MODE);
  if (process.getuid?.() === 0) chownSync(path, 0, 0);
}

function somebodyListens(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.setTimeout(1000, () => done(false));
  });
}
