// Files an agent instance wrote whole itself, so that reading them back is
// not taken for a credential read. Real agents do this inside their own
// folders every session: Codex writes a snapshot of the user's shell under
// ~/.codex/shell_snapshots/ and has bash source it before each command, and
// runs git to check out its plugin list under ~/.codex/.tmp/. Those reads
// are by the agent's children (bash, git), not by the agent's own process,
// so the own-folder rule did not excuse them, and every session raised
// high_value_read and, at the model API connect that followed, exfiltration.
//
// "Wrote whole": created or truncated by one of the instance's opens
// (O_CREAT or O_TRUNC, the way a shell's `>`, git's lock files and most
// writers of a new file open it), or renamed into place from such a file.
// A file opened for writing without either keeps content from before, so it
// does not count; nor does a rename of anything else over the name (the
// name then holds foreign content), and an unlink forgets it. (A process
// outside the instance writing the file meanwhile is not seen here.) What
// the instance reads back is then its own output: it learns nothing it did
// not already hold. The content-based rules (secret_copy_read, secret_egress,
// exfiltration's DLP-tagged reads) still judge what such a file holds.
import type { SensorEvent } from '../../proto/events/types.js';
import type { EventFeatures } from './detector.js';

const O_CREAT = 0o100;
const O_TRUNC = 0o1000;
/** paths remembered per instance; the oldest go first */
const MAX_PATHS = 4096;

export class OwnOutput {
  private readonly paths = new Set<string>();

  /** Notes what an event of the instance did to its files (after `features` was derived from it). */
  note(ev: SensorEvent, f: EventFeatures): void {
    if (ev.type === 'open' && f.file?.ok && f.file.op === 'write') {
      if (ev.flags & (O_CREAT | O_TRUNC)) this.add(f.file.path);
    } else if (ev.type === 'rename' && f.file?.ok && f.file2) {
      const whole = this.paths.delete(f.file.path);
      if (whole) this.add(f.file2.path);
      else this.paths.delete(f.file2.path);
    } else if (ev.type === 'link' && f.file2?.ok) {
      this.paths.delete(f.file2.path);
    } else if (ev.type === 'unlink' && f.file?.ok) {
      this.paths.delete(f.file.path);
    }
  }

  /** Did the instance write this file whole before now? */
  has(path: string): boolean {
    return this.paths.has(path);
  }

  private add(path: string): void {
    this.paths.delete(path); // re-added as the newest
    if (this.paths.size >= MAX_PATHS) this.paths.delete(this.paths.values().next().value!);
    this.paths.add(path);
  }
}
