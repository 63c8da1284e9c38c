import type { ModuleName } from '../shared/config';
import { MANIFEST_SCHEMA, MODULE_SCHEMAS } from '../shared/schema';
import { glueTable, type GlueTableSpec } from '../shared/schema/glue';

export type { GlueColumn, GlueTableSpec } from '../shared/schema/glue';

/**
 * Glue tables per module, generated from schemas/<module>.schema.json: every field the records can carry is a
 * column with its full nested type (structs, arrays, maps where keys are not identifiers). Nothing here is
 * written by hand; change the schema instead.
 */
export const GLUE_TABLES: Record<ModuleName, GlueTableSpec> = {
  'pci-scans': glueTable(MODULE_SCHEMAS['pci-scans']),
  'certview-certificates': glueTable(MODULE_SCHEMAS['certview-certificates']),
  'edr-events': glueTable(MODULE_SCHEMAS['edr-events']),
  'mobile-assets': glueTable(MODULE_SCHEMAS['mobile-assets']),
  'vmdr-detections': glueTable(MODULE_SCHEMAS['vmdr-detections']),
  knowledgebase: glueTable(MODULE_SCHEMAS.knowledgebase),
};

/** The manifests table over `<prefix>/manifests/module=<module>/dt=<dt>/<runId>.json` (single-line JSON). */
export const MANIFESTS_TABLE: GlueTableSpec = glueTable(MANIFEST_SCHEMA);
