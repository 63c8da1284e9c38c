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
