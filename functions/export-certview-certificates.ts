// Lambda entry point: exports the 'certview-certificates' module (one step of its Step Functions loop).
import { exportHandler } from './_aws';

export const handler = exportHandler('certview-certificates');
