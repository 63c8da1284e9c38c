export type SimModule =
  | 'pci-scans'
  | 'certview-certificates'
  | 'edr-events'
  | 'mobile-assets'
  | 'vmdr-detections'
  | 'knowledgebase';

/** How many records of each API the simulator serves (VMDR: hosts; KB: vulnerabilities). */
export interface SimCounts {
  pci: number;
  certview: number;
  edr: number;
  mobile: number;
  vmdr: number;
  kb: number;
}

const KEY = {
  'pci-scans': 'pci',
  'certview-certificates': 'certview',
  'edr-events': 'edr',
  'mobile-assets': 'mobile',
  'vmdr-detections': 'vmdr',
  knowledgebase: 'kb',
} as const satisfies Record<SimModule, keyof SimCounts>;

/** Simulator counts with `n` records of `module` and none of the others (no imports: the bench loads it too). */
export function onlyCounts(module: SimModule, n: number): SimCounts {
  return { pci: 0, certview: 0, edr: 0, mobile: 0, vmdr: 0, kb: 0, [KEY[module]]: n };
}

/** How many records a listing of `n` simulator records holds (VMDR: hosts without detections are left out). */
export function listedCount(module: SimModule, n: number): number {
  if (module !== 'vmdr-detections') return n;
  let listed = 0;
  for (let i = 0; i < n; i++) if (i % 10 !== 7) listed++;
  return listed;
}
