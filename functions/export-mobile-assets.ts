// Lambda entry point: exports the 'mobile-assets' module (one step of its Step Functions loop).
import { exportHandler } from './_aws';

export const handler = exportHandler('mobile-assets');
