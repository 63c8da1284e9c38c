import type { AppConfig, ModuleName } from '../config';

/** Where everything of a module lives under the configured prefix (README "Output contract"). */
export function withPrefix(config: AppConfig, rel: string): string {
  return config.output.prefix ? `${config.output.prefix}/${rel}` : rel;
}

/** `<prefix>/_state/<module>.json`: checkpoint, lease and what the last complete run committed. */
export function stateKeyFor(config: AppConfig, module: ModuleName): string {
  return withPrefix(config, `_state/${module}.json`);
}

/**
 * `<prefix>/_state/<module>` (all journals of the module) or `<prefix>/_state/<module>/<runId>` (one run's): beside
 * the state file, never among the data.
 */
export function journalDirFor(config: AppConfig, module: ModuleName, runId?: string): string {
  return withPrefix(config, `_state/${module}${runId === undefined ? '' : `/${runId}`}`);
}

/** Segment `n` of a run's journal (see export/journal.ts). */
export function journalKeyFor(config: AppConfig, module: ModuleName, runId: string, n: number): string {
  return `${journalDirFor(config, module, runId)}/journal-${String(n).padStart(5, '0')}.json`;
}

/** `<prefix>/<module>/dt=<dt>/run=<runId>`: the run's parts and its manifest. */
export function runDirFor(config: AppConfig, module: ModuleName, dt: string, runId: string): string {
  return withPrefix(config, `${module}/dt=${dt}/run=${runId}`);
}

export function partKeyFor(runDir: string, index: number): string {
  return `${runDir}/part-${String(index).padStart(5, '0')}.ndjson.gz`;
}

/** The run's manifest, beside its parts: hidden from the data tables (leading underscore). */
export function manifestKeyFor(runDir: string): string {
  return `${runDir}/_manifest.json`;
}

/**
 * The catalogue copy of the manifest, one line of JSON, for SQL readers (Athena skips `_` files, so the run
 * manifest cannot be a table): `<prefix>/manifests/module=<module>/dt=<dt>/<runId>.json`.
 */
export function catalogManifestKeyFor(
  config: AppConfig,
  module: ModuleName,
  dt: string,
  runId: string,
): string {
  return withPrefix(config, `manifests/module=${module}/dt=${dt}/${runId}.json`);
}

/**
 * `<prefix>/_state/<module>/`: objects a module keeps beside its state file, one folder per run
 * (`<runId>/<name>`): what would otherwise make a checkpoint grow with the run (EDR's overlap fingerprints).
 */
export function scratchPrefixFor(config: AppConfig, module: ModuleName): string {
  return withPrefix(config, `_state/${module}/`);
}
