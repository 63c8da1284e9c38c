import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Env } from '../../shared/config';

/**
 * npm (`npx qexport`, `npm exec`, `npm run demo`) starts qexport under `sh -c` and does not pass signals on to
 * it: SIGTERM reaches only that shell (which dies and leaves qexport running), SIGHUP and SIGKILL only npm. So
 * `npx qexport sim &` then `kill %1` in a script, or a supervisor stopping npx, would leave qexport running,
 * orphaned. Started by npm, qexport therefore watches the processes between npm and itself, and when one is
 * gone it signals itself SIGHUP: the export stops as on any hang-up (checkpoint written, lease released,
 * exit 129); commands without a handler simply end.
 *
 * Started any other way (an installed or linked `qexport`, `./bin/qexport.mjs`, `node bin/qexport.mjs`), signals
 * reach qexport directly and nothing is watched: `qexport … &` may outlive the shell that started it.
 */

/** npm sets these for every process it starts (npm run, npm exec, npx). */
export function startedByNpm(env: Env): boolean {
  return Boolean(env.npm_lifecycle_event || env.npm_command || env.npm_execpath);
}

const SHELLS = /^(sh|bash|dash|zsh|ash|ksh|busybox)$/;

/** The parent pid and command name of `pid`, or undefined where they cannot be read. */
export function parentOf(pid: number): { ppid: number; comm: string } | undefined {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces and parentheses, so split at the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const ppid = Number(stat.slice(close + 2).split(' ')[1]);
    return Number.isInteger(ppid) ? { ppid, comm } : undefined;
  } catch {
    // No /proc (macOS): ask ps once.
    const r = spawnSync('ps', ['-o', 'ppid=,comm=', '-p', String(pid)], { encoding: 'utf8', timeout: 2000 });
    const m = /^\s*(\d+)\s+(.+?)\s*$/.exec(r.stdout ?? '');
    return m ? { ppid: Number(m[1]), comm: m[2]!.split('/').pop()! } : undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

export interface WatchOptions {
  env?: Env;
  intervalMs?: number;
  /** What to do when the launcher is gone (default: SIGHUP to this process). */
  onGone?: () => void;
}

/**
 * When started by npm: checks every `intervalMs` that this process still has its parent and, when that parent
 * is the shell npm ran, that shell's parent (npm); calls `onGone` once when either is gone. Returns a stop
 * function; the timer never keeps the process alive.
 */
export function watchLauncher(opts: WatchOptions = {}): () => void {
  if (!startedByNpm(opts.env ?? process.env)) return () => {};
  const parent = process.ppid;
  const info = parentOf(parent);
  const watched = [parent, ...(info && SHELLS.test(info.comm) && info.ppid > 1 ? [info.ppid] : [])];
  const onGone = opts.onGone ?? (() => process.kill(process.pid, 'SIGHUP'));
  const timer = setInterval(() => {
    if (process.ppid === parent && watched.every(alive)) return;
    clearInterval(timer);
    onGone();
  }, opts.intervalMs ?? 500);
  timer.unref();
  return () => clearInterval(timer);
}
