import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { ConfigError } from '../../shared/errors';
import type { Env } from '../../shared/config';

/**
 * The environment the CLI configures itself from: a dotenv file (explicit `--dotenv FILE`, or `./.env` when it
 * exists) under the real environment, which wins.
 *
 * The flag is not called --env-file: Node.js itself scans the whole command line, script arguments included,
 * for `--env-file` and exits ("node: FILE: not found", status 9) before any of our code runs when FILE is
 * missing (nodejs/node#54232; Node only stops at a `--` argument). The launcher's shebang passes `--` to Node
 * for that reason, and `--env-file` is refused with a message naming `--dotenv`.
 */
export function cliEnv(dotenvFile: string | undefined, processEnv: Env = process.env): Env {
  const path = dotenvFile ?? '.env';
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (dotenvFile === undefined && (err as { code?: string }).code === 'ENOENT') return { ...processEnv };
    throw new ConfigError(`--dotenv: cannot read '${path}' (${(err as { code?: string }).code ?? 'error'})`);
  }
  return { ...parseEnv(text), ...processEnv };
}
