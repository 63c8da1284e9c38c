import { execFileSync } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname, uptime } from 'node:os';

/**
 * Which local process this is, and whether another one named the same way still runs (issue 19 item 6): what a
 * lease of the CLI, or a lock file of the directory store, records about its holder, so that the next process on
 * the same host can tell at once that the holder was killed.
 *
 * A process is its host name, the host's boot time, its PID namespace (Linux), its pid and its start time as the
 * OS reports it. Another process on the same host (same name, boot time within a minute, same PID namespace) asks
 * the OS about that pid: no such process (ESRCH), or one with another start time (the pid was reused), means the
 * holder is dead. Anything else — a live process, another host, a start time the OS does not give — is alive.
 */
export interface LocalProcess {
  host: string;
  /** When the host booted (ISO, to the second): a host name alone may be shared by two machines. */
  boot?: string;
  /** The PID namespace (Linux), so a container is not mistaken for its host. */
  pidns?: string;
  pid: number;
  /** When the process started, as the OS says it (a reused pid has another). */
  start?: string;
}

/** How far two readings of one host's boot time may differ (clock adjustments). */
const BOOT_SLACK_MS = 60_000;

let me: LocalProcess | undefined;

/** This process, as a lease records it. */
export function thisProcess(): LocalProcess {
  if (!me) {
    const boot = bootTime();
    const pidns = pidNamespace();
    const start = processStart(process.pid);
    me = {
      host: hostname(),
      ...(boot ? { boot } : {}),
      ...(pidns ? { pidns } : {}),
      pid: process.pid,
      ...(start ? { start } : {}),
    };
  }
  return me;
}

/** When this host booted, to the second (Linux: /proc/stat btime; elsewhere: now − uptime). */
function bootTime(): string | undefined {
  try {
    const btime = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1];
    if (btime) return new Date(Number(btime) * 1000).toISOString();
  } catch {
    // not Linux
  }
  const up = uptime();
  return up > 0 ? new Date(Math.round((Date.now() - up * 1000) / 1000) * 1000).toISOString() : undefined;
}

function pidNamespace(): string | undefined {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined;
  }
}

/**
 * When process `pid` started, as an opaque text the OS gives the same way every time (Linux: clock ticks since
 * boot from /proc/<pid>/stat; macOS and BSD: `ps -o lstart=`), or undefined when it cannot say.
 */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which is in parentheses and may hold spaces); starttime is field 22.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = fields[19];
    if (ticks && /^\d+$/.test(ticks)) return `proc:${ticks}`;
  } catch {
    // not Linux, or no such process
  }
  if (process.platform === 'win32') return undefined;
  try {
    const text = execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 2000,
    }).trim();
    return text ? `ps:${text}` : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `p` names a process on this very host (and PID namespace). */
export function sameHost(p: LocalProcess, local: LocalProcess = thisProcess()): boolean {
  if (p.host !== local.host) return false;
  if (p.boot && local.boot && Math.abs(Date.parse(p.boot) - Date.parse(local.boot)) > BOOT_SLACK_MS)
    return false;
  if (p.pidns && local.pidns && p.pidns !== local.pidns) return false;
  return true;
}

/**
 * 'dead': the holder was a process on this host that no longer runs (its pid is free, or now another process's).
 * 'alive': it runs (or the OS cannot tell it from the one that took its pid). 'elsewhere': not on this host.
 */
export function holderState(
  p: LocalProcess,
  local: LocalProcess = thisProcess(),
  probe: { alive(pid: number): boolean; start(pid: number): string | undefined } = OS,
): 'dead' | 'alive' | 'elsewhere' {
  if (!sameHost(p, local)) return 'elsewhere';
  if (!probe.alive(p.pid)) return 'dead';
  const start = probe.start(p.pid);
  return p.start && start && start !== p.start ? 'dead' : 'alive';
}

const OS = {
  alive(pid: number): boolean {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      // EPERM: it exists, under another user.
      return (err as NodeJS.ErrnoException).code !== 'ESRCH';
    }
  },
  start: processStart,
};
