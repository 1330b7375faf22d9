// `sensor collect --check FILE`: re-verifies an evidence bundle: every item
// the manifest lists is present with its size and SHA-256, and nothing else
// is in the archive. Exit codes: 0 verified, 1 an item is altered, missing or
// extra, 2 not a readable bundle (not gzip, not tar, no manifest).
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { BUNDLE_FORMAT, MANIFEST_NAME, type Manifest } from './evidence-bundle.js';
import { readTar } from './tar-archive.js';

export interface BundleVerdict {
  exitCode: 0 | 1 | 2;
  lines: string[];
  manifestSha256?: string;
}

export function checkBundle(file: Buffer): BundleVerdict {
  let manifest: Manifest;
  let entries;
  try {
    entries = readTar(gunzipSync(file));
    const m = entries.find((e) => e.name === MANIFEST_NAME);
    if (!m) return { exitCode: 2, lines: [`no ${MANIFEST_NAME} in the archive`] };
    manifest = JSON.parse(m.data.toString('utf8')) as Manifest;
    if (manifest.format !== BUNDLE_FORMAT || !Array.isArray(manifest.items)) return { exitCode: 2, lines: [`${MANIFEST_NAME} is not a ${BUNDLE_FORMAT} manifest`] };
    const manifestSha256 = createHash('sha256').update(m.data).digest('hex');
    const lines: string[] = [];
    const byName = new Map<string, Buffer>();
    for (const e of entries) {
      if (byName.has(e.name)) lines.push(`duplicate entry ${e.name}`);
      byName.set(e.name, e.data);
    }
    let ok = 0;
    for (const item of manifest.items) {
      const data = byName.get(item.name);
      if (!data) { lines.push(`MISSING ${item.name}`); continue; }
      const sum = createHash('sha256').update(data).digest('hex');
      if (data.length !== item.bytes || sum !== item.sha256) lines.push(`ALTERED ${item.name}: sha256 ${sum} (${data.length} bytes), manifest says ${item.sha256} (${item.bytes} bytes)`);
      else ok++;
    }
    const listed = new Set(manifest.items.map((i) => i.name));
    for (const name of byName.keys()) if (name !== MANIFEST_NAME && !listed.has(name)) lines.push(`EXTRA ${name} (not in the manifest)`);
    if (lines.length) return { exitCode: 1, lines, manifestSha256 };
    return {
      exitCode: 0, manifestSha256,
      lines: [`OK: ${ok} items verified against the manifest (instance ${manifest.agentPid}${manifest.agent ? ` of ${manifest.agent}` : ''}, collected ${manifest.createdAt} on ${manifest.host}); manifest sha256 ${manifestSha256}`],
    };
  } catch (err) {
    return { exitCode: 2, lines: [`not a readable bundle: ${(err as Error).message}`] };
  }
}
