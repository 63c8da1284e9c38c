// Lambda entry point: exports the 'edr-events' module (one step of its Step Functions loop).
import { exportHandler } from './_aws';

export const handler = exportHandler('edr-events');
