/** Switchable fault injection for the simulator. */
export const FAULT_KINDS = [
  'status',
  'reset',
  'stall',
  'malformed',
  'truncated',
  'expire-token',
  'scroll-expire',
  'offsite-url',
  'rate-limit',
  'concurrency-limit',
  'pci-insert',
  'simple-return',
  'redirect',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultSpec {
  kind: FaultKind;
  /** Prefix of the URL path the fault applies to (default: every data path). */
  path?: string;
  /** Matching requests let through before the fault hits (default 0). */
  after?: number;
  /** Requests the fault hits (default 1; Infinity allowed). */
  times?: number;
  /** 'status': the HTTP status (default 500); 'redirect': the 3xx (default 307). */
  status?: number;
  /** 'rate-limit' / 'concurrency-limit': X-RateLimit-ToWait-Sec (default 1). */
  waitSec?: number;
  /** 'stall': how long to hold the request before dropping it (default: until the client gives up). */
  ms?: number;
  /** 'offsite-url': the origin the truncation URL points to; 'redirect': the origin the Location names. */
  url?: string;
  /** 'pci-insert': how many new scans appear. */
  count?: number;
  /** 'simple-return': the 409 SIMPLE_RETURN code (default 2003; 2011 and others as documented). */
  code?: number;
}

interface ActiveFault extends Required<Pick<FaultSpec, 'kind' | 'after' | 'times'>> {
  spec: FaultSpec;
}

export class FaultController {
  private faults: ActiveFault[] = [];
  /** How many requests a fault has hit so far (evidence for tests that the fault really happened). */
  hits = 0;

  add(spec: FaultSpec): void {
    if (!FAULT_KINDS.includes(spec.kind)) throw new Error(`unknown fault kind '${spec.kind}'`);
    this.faults.push({ kind: spec.kind, after: spec.after ?? 0, times: spec.times ?? 1, spec });
  }

  clear(): void {
    this.faults = [];
  }

  /** The fault that hits this request, if any (consumes one of its `times`). */
  take(path: string, applies: (kind: FaultKind, spec: FaultSpec) => boolean): FaultSpec | undefined {
    for (const f of this.faults) {
      if (f.times <= 0) continue;
      if (f.spec.path && !path.startsWith(f.spec.path)) continue;
      if (!applies(f.kind, f.spec)) continue;
      if (f.after > 0) {
        f.after--;
        continue;
      }
      f.times--;
      this.hits++;
      return f.spec;
    }
    return undefined;
  }
}

/** Parses the CLI form `kind[:path][:key=val,key=val]`, e.g. `status:/pci:status=503,times=3`. */
export function parseFaultArg(arg: string): FaultSpec {
  const colon = arg.indexOf(':');
  const kind = colon < 0 ? arg : arg.slice(0, colon);
  let rest = colon < 0 ? '' : arg.slice(colon + 1);
  if (!FAULT_KINDS.includes(kind as FaultKind)) {
    throw new Error(`--fault: unknown kind '${kind}' (one of ${FAULT_KINDS.join(', ')})`);
  }
  const spec: FaultSpec = { kind: kind as FaultKind };
  if (rest.startsWith('/')) {
    const end = rest.indexOf(':');
    spec.path = end < 0 ? rest : rest.slice(0, end);
    rest = end < 0 ? '' : rest.slice(end + 1);
  }
  for (const kv of rest ? rest.split(',') : []) {
    const eq = kv.indexOf('=');
    const k = kv.slice(0, eq);
    const v = kv.slice(eq + 1);
    if (eq <= 0) throw new Error(`--fault: expected key=value, got '${kv}'`);
    if (k === 'url') spec.url = v;
    else if (['after', 'times', 'status', 'waitSec', 'ms', 'count', 'code'].includes(k)) {
      const n = v === 'Infinity' ? Infinity : Number(v);
      if (v === '' || Number.isNaN(n)) throw new Error(`--fault: ${k} must be a number, got '${v}'`);
      (spec as unknown as Record<string, number>)[k] = n;
    } else throw new Error(`--fault: unknown key '${k}'`);
  }
  return spec;
}
