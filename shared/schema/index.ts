/**
 * The schemas, one per module plus the run manifest: the single source of truth for what a record may carry.
 * The JSON files in schemas/ are bundled into the functions (esbuild inlines JSON imports).
 */
import type { ModuleName } from '../config';
import certview from '../../schemas/certview-certificates.schema.json' with { type: 'json' };
import edr from '../../schemas/edr-events.schema.json' with { type: 'json' };
import kb from '../../schemas/knowledgebase.schema.json' with { type: 'json' };
import manifest from '../../schemas/manifest.schema.json' with { type: 'json' };
import mobile from '../../schemas/mobile-assets.schema.json' with { type: 'json' };
import pci from '../../schemas/pci-scans.schema.json' with { type: 'json' };
import vmdr from '../../schemas/vmdr-detections.schema.json' with { type: 'json' };
import { readSchema, SchemaError, type RecordSchema } from './model';

export * from './model';

function moduleSchema(module: ModuleName, doc: unknown): RecordSchema {
  const schema = readSchema(doc, `schemas/${module}.schema.json`);
  if (schema.module !== module) {
    throw new SchemaError(
      `schemas/${module}.schema.json: x-module is '${schema.module}', expected '${module}'`,
    );
  }
  if (!schema.runKind) throw new SchemaError(`schemas/${module}.schema.json: x-run-kind is required`);
  if (schema.fields[0]?.name !== 'qexport_run') {
    throw new SchemaError(`schemas/${module}.schema.json: the first field must be qexport_run`);
  }
  return schema;
}

export const MODULE_SCHEMAS: Readonly<Record<ModuleName, RecordSchema>> = {
  'pci-scans': moduleSchema('pci-scans', pci),
  'certview-certificates': moduleSchema('certview-certificates', certview),
  'edr-events': moduleSchema('edr-events', edr),
  'mobile-assets': moduleSchema('mobile-assets', mobile),
  'vmdr-detections': moduleSchema('vmdr-detections', vmdr),
  knowledgebase: moduleSchema('knowledgebase', kb),
};

export const MANIFEST_SCHEMA: RecordSchema = readSchema(manifest, 'schemas/manifest.schema.json');
