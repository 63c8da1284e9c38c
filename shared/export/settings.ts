import type { AppConfig } from '../config';
import { ConfigError } from '../errors';
import type { Logger } from '../log';
import type { ModuleDef, RunSetting } from '../modules/types';
import type { RunInProgress } from './types';

/** A setting's value as the run records it: text, or null when unset. */
const valueOf = (s: RunSetting, config: AppConfig): string | null => s.value(config) ?? null;
const shown = (v: string | null) => (v === null ? '(unset)' : v);

/** The values of the settings that shape a run of `module`, to record when the run starts. */
export function runSettings(module: ModuleDef, config: AppConfig): Record<string, string | null> {
  return Object.fromEntries(module.runSettings.map((s) => [s.env, valueOf(s, config)]));
}

/**
 * A run is resumed: compares the settings that shape it with the ones it started with (issue 19 item 4). A changed
 * setting that cannot change what the run lists is applied (and recorded); one that could is refused before
 * anything is written, naming the setting, the run's value, the new one and both ways out. A checkpoint of an older
 * version has no record: the current values are recorded from now on.
 */
export function checkRunSettings(
  module: ModuleDef,
  config: AppConfig,
  run: RunInProgress,
  logger: Logger,
): void {
  const now = runSettings(module, config);
  if (!run.settings) {
    run.settings = now;
    return;
  }
  const refused: string[] = [];
  for (const s of module.runSettings) {
    if (!(s.env in run.settings)) {
      run.settings[s.env] = now[s.env]!;
      continue;
    }
    const was = run.settings[s.env]!;
    const is = now[s.env]!;
    if (was === is) continue;
    if (s.onChange === 'apply') {
      logger.info('a setting changed since the run started; applying it', {
        setting: s.env,
        was,
        is,
        runId: run.runId,
      });
      run.settings[s.env] = is;
      continue;
    }
    refused.push(
      `${s.env} is ${shown(is)} but run ${run.runId} of ${module.name} started with ${shown(was)}, and ${s.why}. ` +
        `Set ${s.env}=${was === null ? "'' (unset it)" : was} to resume the run, or run ` +
        `\`qexport state reset ${module.name} --yes\` (with the same --out) to abandon it (nothing of it was ` +
        `published) and start over with ${shown(is)}`,
    );
  }
  if (refused.length) throw new ConfigError(refused);
}

/** The settings of an XML listing's request parameters, each refused when changed mid-run (they decide its records). */
export function listingSettings(opts: {
  /** What the listing is, for the messages: 'host detections'. */
  what: string;
  version: { env: string; value: (c: AppConfig) => string };
  flags: readonly { param: string; env: string; about: string }[];
  flagValues: (c: AppConfig) => Record<string, string>;
  extra: { env: string; value: (c: AppConfig) => Record<string, string> };
}): RunSetting[] {
  return [
    {
      env: opts.version.env,
      value: opts.version.value,
      onChange: 'refuse',
      why: `${opts.what} of another API version carry other fields: one run's records would not all have the same`,
    },
    ...opts.flags.map((f): RunSetting => ({
      env: f.env,
      value: (c) => opts.flagValues(c)[f.param],
      onChange: 'refuse',
      why: `it decides what the ${opts.what} hold (${f.about})`,
    })),
    {
      env: opts.extra.env,
      value: (c) => new URLSearchParams(opts.extra.value(c)).toString() || undefined,
      onChange: 'refuse',
      why: `its parameters decide which ${opts.what} are listed`,
    },
  ];
}

/**
 * A truncation limit changed while a run is in progress: the run's own parameters take it (a listing continued by
 * id_min is the same listing whatever the size of its responses).
 */
export function withTruncationLimit<C extends { params: Record<string, string> }>(
  cursor: C,
  limit: number,
): C {
  const value = String(limit);
  return cursor.params.truncation_limit === value
    ? cursor
    : { ...cursor, params: { ...cursor.params, truncation_limit: value } };
}
