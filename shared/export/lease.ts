import { holderState } from '../local-process';
import type { Lease, LeaseProcess } from './types';

export { holderState, thisProcess } from '../local-process';

/**
 * Leases held by local processes (the CLI), and how they are described (issue 19 item 6). A lease written by a local
 * run carries its process (shared/local-process.ts): another local start on the same host takes it over at once when
 * that process no longer runs. Any other holder keeps the lease until it expires, unless the user takes it over
 * deliberately (`--take-over`), which is still a compare-and-swap on the state file. Lambda invocations never record
 * a process (every sandbox may have the same pid and host name).
 */

/** A lease's holder for a message: the owner, and for a local process where it runs and whether it does. */
export function describeHolder(lease: Lease, local?: LeaseProcess): string {
  const p = lease.process;
  if (!p) return lease.owner;
  if (!local) return `${lease.owner} (process ${p.pid} on ${p.host})`;
  const state = holderState(p, local);
  if (state === 'elsewhere') return `${lease.owner} (process ${p.pid} on ${p.host}, another host)`;
  return `${lease.owner} (process ${p.pid} on this host, ${state === 'dead' ? 'no longer running' : 'running'})`;
}

const two = (n: number) => String(n).padStart(2, '0');

/** `2026-11-24 10:05:00 +01:00 (09:05:00 UTC), in 4 minutes` — local and UTC time, and how far from `now`. */
export function describeWhen(iso: string, now: Date): string {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return iso;
  const off = -t.getTimezoneOffset();
  const local =
    `${t.getFullYear()}-${two(t.getMonth() + 1)}-${two(t.getDate())} ` +
    `${two(t.getHours())}:${two(t.getMinutes())}:${two(t.getSeconds())} ` +
    `${off >= 0 ? '+' : '-'}${two(Math.floor(Math.abs(off) / 60))}:${two(Math.abs(off) % 60)}`;
  const utc = t
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, '');
  const ms = t.getTime() - now.getTime();
  const mins = Math.round(Math.abs(ms) / 60_000);
  const span =
    Math.abs(ms) < 60_000
      ? `${Math.round(Math.abs(ms) / 1000)} seconds`
      : mins < 120
        ? `${mins} minute${mins === 1 ? '' : 's'}`
        : `${(mins / 60).toFixed(1)} hours`;
  return `${local} (${utc} UTC), ${ms >= 0 ? `in ${span}` : `${span} ago`}`;
}

/** The sentence saying who holds a module and until when, and the deliberate ways past it. */
export function leaseHeldMessage(
  module: string,
  lease: Lease,
  now: Date,
  opts: { local?: LeaseProcess; action: 'export' | 'reset' },
): string {
  const how =
    opts.action === 'export'
      ? `\`qexport export ${module} --take-over\``
      : `\`qexport state reset ${module} --yes --take-over\``;
  return (
    `${module} is being exported by ${describeHolder(lease, opts.local)}; its lease runs until ` +
    `${describeWhen(lease.expiresAt, now)}. ${opts.action === 'export' ? 'Not started' : 'Nothing was reset'}: ` +
    `wait until then, stop that run, or take the module over deliberately with ${how} ` +
    '(that run then stops at its next write)'
  );
}
