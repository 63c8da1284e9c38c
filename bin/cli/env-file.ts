import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { ConfigError } from '../../shared/errors';
import type { Env } from '../../shared/config';

/**
 * The environment the CLI configures itself from: a `.env` file (explicit `--env-file`, or `./.env` when it
 * exists) under the real environment, which wins.
 */
export function cliEnv(envFile: string | undefined, processEnv: Env = process.env): Env {
  const path = envFile ?? '.env';
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (envFile === undefined && (err as { code?: string }).code === 'ENOENT') return { ...processEnv };
    throw new ConfigError(
      `--env-file: cannot read '${path}' (${(err as { code?: string }).code ?? 'error'})`,
    );
  }
  return { ...parseEnv(text), ...processEnv };
}
