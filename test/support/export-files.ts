import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

/** Every record stored under `<root>/<module>/` (all runs, complete or not), read from the gzip NDJSON parts. */
export async function storedRecords(root: string, module: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  const entries = await readdir(join(root, module), { recursive: true });
  for (const rel of entries.filter((e) => /part-\d+\.ndjson\.gz$/.test(e)).sort()) {
    const text = gunzipSync(await readFile(join(root, module, rel))).toString('utf8');
    for (const line of text.split('\n')) if (line) out.push(JSON.parse(line) as Record<string, unknown>);
  }
  return out;
}

/** Every catalogue manifest under `<root>/manifests/` (one line of JSON each). */
export async function catalogueManifests(root: string): Promise<Record<string, unknown>[]> {
  const entries = await readdir(join(root, 'manifests'), { recursive: true });
  const out: Record<string, unknown>[] = [];
  for (const rel of entries.filter((e) => e.endsWith('.json')).sort()) {
    const text = await readFile(join(root, 'manifests', rel), 'utf8');
    if (text.trimEnd().includes('\n')) throw new Error(`manifests/${rel} is not a single line`);
    out.push(JSON.parse(text) as Record<string, unknown>);
  }
  return out;
}
