// Lambda entry point: exports the 'knowledgebase' module (one step of its Step Functions loop).
import { exportHandler } from './_aws';

export const handler = exportHandler('knowledgebase');
