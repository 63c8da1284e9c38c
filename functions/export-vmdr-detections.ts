// Lambda entry point: exports the 'vmdr-detections' module (one step of its Step Functions loop).
import { exportHandler } from './_aws';

export const handler = exportHandler('vmdr-detections');
