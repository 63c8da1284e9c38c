// Lambda entry point: exports the 'pci-scans' module (one step of its Step Functions loop).
import { exportHandler } from './_aws';

export const handler = exportHandler('pci-scans');
