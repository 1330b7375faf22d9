// A sensitive file opened under another name. The catalogue knows a file by
// its usual path, but a hard link or a rename is the same file under a new
// one: `ln ~/.ssh/id_rsa /tmp/k; cat /tmp/k`, `mv ~/.aws/credentials x`.
// Two memories per sensor, both bounded (the oldest entry goes first):
//  - inodes: the (dev, ino) of every file an agent opened under a path in a
//    class, from the kernel's identity of the opened inode. A later open of
//    that inode under any name has the same classes: a hard link made by
//    anyone, at any time, or the file renamed since.
//  - names: the new name an agent gave a file in a class (a hard link, a
//    rename): an open of that name has its classes even when the file was
//    never opened under its usual one. The first open of the name that
//    carries an inode turns the name into that inode, so a different file
//    made at that path later is not taken for it; an unlink forgets it.
// Inode numbers are per host: every key names its sensor.
import type { OpenedInode } from '../../proto/events/types.js';

const MAX_ENTRIES = 4096;

export class SameFileMemory {
  private readonly inodes = new Map<string, string[]>();
  private readonly names = new Map<string, string[]>();

  constructor(private readonly max = MAX_ENTRIES) {}

  /** An open whose path is in `classes`: its inode has them too. */
  openedSensitive(sensorId: string, inode: OpenedInode | undefined, classes: string[]): void {
    if (inode) remember(this.inodes, inodeKey(sensorId, inode), classes, this.max);
  }

  /** The classes an open of a path in no class still has: those of its inode, or of a name given to a sensitive file. */
  classesOf(sensorId: string, path: Buffer, inode: OpenedInode | undefined): string[] | undefined {
    if (inode) {
      const known = this.inodes.get(inodeKey(sensorId, inode));
      if (known) return known;
    }
    const name = nameKey(sensorId, path);
    const named = this.names.get(name);
    if (named && inode) {
      this.names.delete(name);
      remember(this.inodes, inodeKey(sensorId, inode), named, this.max);
    }
    return named;
  }

  /** The classes a name has in this memory (a name given before), for a file renamed or linked on. */
  classesOfName(sensorId: string, path: Buffer): string[] | undefined {
    return this.names.get(nameKey(sensorId, path));
  }

  /** A hard link or rename succeeded: the new name is the same file (classes: its old name's, if any). */
  named(sensorId: string, from: Buffer, to: Buffer, classes: string[] | undefined, rename: boolean): void {
    const key = nameKey(sensorId, to);
    if (rename) this.names.delete(nameKey(sensorId, from));
    if (classes?.length) remember(this.names, key, classes, this.max);
    else this.names.delete(key); // whatever was at `to` is gone
  }

  /** An unlink succeeded: the name no longer leads to the file. */
  unlinked(sensorId: string, path: Buffer): void {
    this.names.delete(nameKey(sensorId, path));
  }
}

function remember(map: Map<string, string[]>, key: string, classes: string[], max: number): void {
  map.delete(key); // re-inserted as the newest
  map.set(key, classes);
  if (map.size > max) map.delete(map.keys().next().value!);
}

// The generation keeps a new file given a freed inode number from being taken for the old one.
const inodeKey = (sensorId: string, i: OpenedInode): string => `${sensorId}\0${i.dev}:${i.ino}:${i.generation}`;
const nameKey = (sensorId: string, path: Buffer): string => `${sensorId}\0${path.toString('latin1')}`;
