export type SimModule = 'pci-scans' | 'certview-certificates' | 'edr-events' | 'mobile-assets';

/** How many records of each API the simulator serves. */
export interface SimCounts {
  pci: number;
  certview: number;
  edr: number;
  mobile: number;
}

const KEY = {
  'pci-scans': 'pci',
  'certview-certificates': 'certview',
  'edr-events': 'edr',
  'mobile-assets': 'mobile',
} as const satisfies Record<SimModule, keyof SimCounts>;

/** Simulator counts with `n` records of `module` and none of the others (no imports: the bench loads it too). */
export function onlyCounts(module: SimModule, n: number): SimCounts {
  return { pci: 0, certview: 0, edr: 0, mobile: 0, [KEY[module]]: n };
}
