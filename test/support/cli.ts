import { spawn, type ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Simulator } from '../sim';
import { S3RVER_CHECKSUM_ENV } from './functions';

export const ROOT = join(import.meta.dirname, '..', '..');
export const QEXPORT = join(ROOT, 'bin', 'qexport.mjs');

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface QexportOptions {
  env?: Record<string, string>;
  cwd?: string;
  /**
   * Execute bin/qexport.mjs itself (its shebang decides how Node is started), as an installed `qexport`,
   * `npx qexport` or `./bin/qexport.mjs` runs it; default: `node bin/qexport.mjs`, as `npm run demo` does.
   */
  asExecutable?: boolean;
  /** Called with the child once it started (to signal it). */
  onSpawn?: (child: ChildProcess) => void;
  /** The launcher to run instead of this repository's bin/qexport.mjs (a copy in a scratch project). */
  launcher?: string;
  /** Written to the child's stdin, which is then closed (default: no stdin). */
  input?: string;
}

/**
 * Runs the real `qexport` command as a child process with exactly the given environment (plus PATH and HOME;
 * no AWS settings leak in from the machine running the tests).
 */
export function qexport(args: string[], opts: QexportOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...opts.env };
    const launcher = opts.launcher ?? QEXPORT;
    const stdin = opts.input === undefined ? 'ignore' : 'pipe';
    const child = opts.asExecutable
      ? spawn(launcher, args, { cwd: opts.cwd ?? ROOT, env, stdio: [stdin, 'pipe', 'pipe'] })
      : spawn(process.execPath, [launcher, ...args], {
          cwd: opts.cwd ?? ROOT,
          env,
          stdio: [stdin, 'pipe', 'pipe'],
        });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    opts.onSpawn?.(child);
  });
}

/** stderr's non-empty lines. */
export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '');
}

export async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

/** AWS environment for the SDK against a local endpoint: no profile files, no instance metadata lookups. */
export function awsEnv(
  endpoint: string | undefined,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    AWS_CONFIG_FILE: '/nonexistent/qexport-test-aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/qexport-test-aws-credentials',
    AWS_EC2_METADATA_DISABLED: 'true',
    ...(endpoint
      ? {
          AWS_ENDPOINT_URL_S3: endpoint,
          ...S3RVER_CHECKSUM_ENV,
          AWS_MAX_ATTEMPTS: '2',
        }
      : {}),
    ...extra,
  };
}

/** What a CLI run needs to reach a simulator: its URLs, the gateway client and PCI Merchant's own Basic account. */
export function simCliEnv(sim: Simulator): Record<string, string> {
  return {
    QUALYS_GATEWAY_URL: sim.url,
    QUALYS_PCI_URL: sim.url,
    QUALYS_AUTH_METHOD: 'qualys-oidc',
    QUALYS_CLIENT_ID: sim.defaults.clientId,
    QUALYS_CLIENT_SECRET: sim.defaults.clientSecret,
    QUALYS_PCI_USERNAME: sim.defaults.pciUsername,
    QUALYS_PCI_PASSWORD: sim.defaults.pciPassword,
    // The API server modules: the Qualys user over Basic.
    QUALYS_API_URL: sim.url,
    QUALYS_USERNAME: sim.defaults.username,
    QUALYS_PASSWORD: sim.defaults.password,
  };
}

/** A port nothing listens on. */
export async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}
