/**
 * The record schemas (schemas/*.schema.json, JSON Schema 2020-12) read into a small typed tree that every
 * generator walks: Glue columns, view SQL, DuckDB/Spark/Snowflake column lists, the data dictionary and the
 * drift checker. Only the JSON Schema subset the schemas use is accepted; anything else is refused with the
 * path of the node, so a schema edit cannot silently produce a wrong column.
 */

export type Scalar = 'string' | 'integer' | 'number' | 'boolean';

export type FieldType =
  | { kind: 'scalar'; scalar: Scalar }
  | { kind: 'struct'; fields: Field[] }
  | { kind: 'array'; items: FieldType }
  /** An object whose keys are data, not names (e.g. CertView `subjectAlternativeNames`). */
  | { kind: 'map'; values: FieldType }
  /** A value whose shape is not published: kept as JSON text by readers. */
  | { kind: 'json' };

/** How a raw value is parsed into a typed view column. */
export type ValueFormat =
  'pci-datetime' | 'epoch-ms' | 'edr-datetime' | 'mobile-datetime' | 'iso-datetime' | 'integer-string';

export const VALUE_FORMATS: Record<ValueFormat, { typed: 'timestamp' | 'bigint'; example: string }> = {
  'pci-datetime': { typed: 'timestamp', example: 'February 21, 2020 at 08:43 AM GMT' },
  'epoch-ms': { typed: 'timestamp', example: '1676246400000' },
  'edr-datetime': { typed: 'timestamp', example: '2020-08-17T04:15:06.000+0000' },
  'mobile-datetime': { typed: 'timestamp', example: '2021-04-28 12:01:06' },
  'iso-datetime': { typed: 'timestamp', example: '2026-11-23T10:00:00.123Z' },
  'integer-string': { typed: 'bigint', example: '610100' },
};

export interface Field {
  /** The JSON key, exactly as the API spells it. */
  name: string;
  type: FieldType;
  description: string;
  nullable: boolean;
  format?: ValueFormat;
  /** Name of the typed column (or typed row field) the views add for this field. */
  typed?: string;
  /** 'sim' when the field is not in the Qualys documentation samples, only in our simulator/reference notes. */
  evidence: 'doc' | 'sim';
  examples?: unknown[];
  /** A Hive partition column (manifests: module, dt): not a data column. */
  partition: boolean;
  /**
   * On an array of structs: the item field that identifies an element within one record (Mobile: a detection's
   * QID). A current-state view merges the array across a record's versions, each element from the newest version
   * holding its key: an incremental run may list only the elements that changed.
   */
  mergeKey?: string;
}

export interface RecordSchema {
  $id: string;
  title: string;
  description: string;
  version: number;
  table: string;
  module?: string;
  /**
   * snapshot: every run lists everything; incremental: every run is one slice (EDR windows); mixed: each run's
   * manifest says (Mobile: snapshots, and increments between them when configured).
   */
  runKind?: RunKindOfSchema;
  idField?: string;
  fields: Field[];
}

export const SCHEMA_RUN_KINDS = ['snapshot', 'incremental', 'mixed'] as const;
export type RunKindOfSchema = (typeof SCHEMA_RUN_KINDS)[number];

export class SchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SchemaError';
  }
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

const KNOWN_KEYWORDS = new Set([
  '$schema',
  '$id',
  'title',
  'description',
  'type',
  'properties',
  'additionalProperties',
  'items',
  'examples',
  'x-module',
  'x-version',
  'x-table',
  'x-run-kind',
  'x-id',
  'x-format',
  'x-typed',
  'x-evidence',
  'x-opaque',
  'x-partition',
  'x-merge-key',
]);

function readType(node: Json, path: string): FieldType {
  for (const k of Object.keys(node)) {
    if (!KNOWN_KEYWORDS.has(k)) throw new SchemaError(`${path}: unsupported schema keyword '${k}'`);
  }
  if (node.type === undefined) {
    if (node['x-opaque'] !== true) {
      throw new SchemaError(`${path}: a node without 'type' must say "x-opaque": true (shape not published)`);
    }
    return { kind: 'json' };
  }
  const types = (Array.isArray(node.type) ? node.type : [node.type]).filter((t) => t !== 'null');
  if (types.length !== 1 || typeof types[0] !== 'string') {
    throw new SchemaError(`${path}: 'type' must name one type (optionally with "null")`);
  }
  const t = types[0];
  switch (t) {
    case 'string':
    case 'integer':
    case 'number':
    case 'boolean':
      return { kind: 'scalar', scalar: t };
    case 'array':
      if (!isObject(node.items)) throw new SchemaError(`${path}: an array needs an 'items' schema`);
      return { kind: 'array', items: readType(node.items, `${path}[]`) };
    case 'object': {
      if (isObject(node.properties)) {
        if (isObject(node.additionalProperties)) {
          throw new SchemaError(
            `${path}: an object has either 'properties' or an 'additionalProperties' schema`,
          );
        }
        return { kind: 'struct', fields: readFields(node.properties, path) };
      }
      if (isObject(node.additionalProperties)) {
        return { kind: 'map', values: readType(node.additionalProperties, `${path}{}`) };
      }
      throw new SchemaError(
        `${path}: an object needs 'properties' (a struct) or 'additionalProperties' (a map)`,
      );
    }
    default:
      throw new SchemaError(`${path}: unsupported type '${t}'`);
  }
}

function readFields(properties: Json, path: string): Field[] {
  const fields: Field[] = [];
  const seen = new Map<string, string>();
  for (const [name, raw] of Object.entries(properties)) {
    const p = path ? `${path}.${name}` : name;
    if (!isObject(raw)) throw new SchemaError(`${p}: not a schema object`);
    // Athena's OpenX SerDe matches keys case-insensitively: two keys equal but for case would collide.
    const lower = name.toLowerCase();
    if (seen.has(lower))
      throw new SchemaError(`${p}: collides with '${seen.get(lower)}' when case is ignored`);
    seen.set(lower, name);
    const type = readType(raw, p);
    const format = raw['x-format'];
    if (format !== undefined && !(typeof format === 'string' && format in VALUE_FORMATS)) {
      throw new SchemaError(`${p}: unknown x-format '${String(format)}'`);
    }
    const typedRaw = raw['x-typed'];
    let typed: string | undefined;
    if (typedRaw !== undefined) {
      if (
        !isObject(typedRaw) ||
        typeof typedRaw.name !== 'string' ||
        !/^[a-z_][a-z0-9_]*$/.test(typedRaw.name)
      ) {
        throw new SchemaError(`${p}: x-typed must be {"name": "<lower_snake_case>"}`);
      }
      typed = typedRaw.name;
    }
    if (raw.description !== undefined && typeof raw.description !== 'string') {
      throw new SchemaError(`${p}: description must be a string`);
    }
    const mergeKey = raw['x-merge-key'];
    if (mergeKey !== undefined) {
      const items = type.kind === 'array' ? type.items : undefined;
      if (
        typeof mergeKey !== 'string' ||
        items?.kind !== 'struct' ||
        !items.fields.some((f) => f.name === mergeKey)
      ) {
        throw new SchemaError(`${p}: x-merge-key names a field of the items of an array of objects`);
      }
    }
    const evidence = raw['x-evidence'] ?? 'doc';
    if (evidence !== 'doc' && evidence !== 'sim') throw new SchemaError(`${p}: x-evidence is 'doc' or 'sim'`);
    fields.push({
      name,
      type,
      description: (raw.description as string | undefined) ?? '',
      nullable: Array.isArray(raw.type) && raw.type.includes('null'),
      format: format as ValueFormat | undefined,
      typed,
      evidence,
      examples: Array.isArray(raw.examples) ? raw.examples : undefined,
      partition: raw['x-partition'] === true,
      ...(typeof mergeKey === 'string' ? { mergeKey } : {}),
    });
  }
  return fields;
}

/** Reads and checks one record schema document. */
export function readSchema(doc: unknown, source: string): RecordSchema {
  if (!isObject(doc)) throw new SchemaError(`${source}: not a JSON object`);
  const need = (k: string) => {
    if (typeof doc[k] !== 'string' || !doc[k]) throw new SchemaError(`${source}: '${k}' is required`);
    return doc[k] as string;
  };
  const $id = need('$id');
  const version = doc['x-version'];
  if (!Number.isInteger(version) || (version as number) < 1) {
    throw new SchemaError(`${source}: 'x-version' must be a positive integer`);
  }
  if (!$id.endsWith(`:${String(version)}`)) {
    throw new SchemaError(`${source}: $id '${$id}' must end with the version (:${String(version)})`);
  }
  if (doc.type !== 'object' || !isObject(doc.properties)) {
    throw new SchemaError(`${source}: a record schema is an object with properties`);
  }
  const runKind = doc['x-run-kind'] as RunKindOfSchema | undefined;
  if (runKind !== undefined && !SCHEMA_RUN_KINDS.includes(runKind)) {
    throw new SchemaError(`${source}: x-run-kind is one of ${SCHEMA_RUN_KINDS.join(', ')}`);
  }
  const table = need('x-table');
  if (!/^[a-z_][a-z0-9_]*$/.test(table)) throw new SchemaError(`${source}: x-table must be lower_snake_case`);
  const fields = readFields(doc.properties, '');
  const schema: RecordSchema = {
    $id,
    title: need('title'),
    description: need('description'),
    version: version as number,
    table,
    module: typeof doc['x-module'] === 'string' ? doc['x-module'] : undefined,
    runKind,
    idField: typeof doc['x-id'] === 'string' ? doc['x-id'] : undefined,
    fields,
  };
  if (schema.idField && !fields.some((f) => f.name === schema.idField)) {
    throw new SchemaError(`${source}: x-id names '${schema.idField}', which is not a field`);
  }
  return schema;
}

/**
 * Every named field as a path: `a`, `a.b`, `arr.c` (arrays are transparent; a map's keys are data, so a
 * map contributes its own path only). This is what "fields in the schema" means in the coverage test.
 */
export function fieldPaths(schema: Pick<RecordSchema, 'fields'>): string[] {
  const out: string[] = [];
  const walk = (fields: Field[], prefix: string) => {
    for (const f of fields) {
      if (f.partition) continue;
      const p = prefix ? `${prefix}.${f.name}` : f.name;
      out.push(p);
      walkType(f.type, p);
    }
  };
  const walkType = (t: FieldType, p: string) => {
    if (t.kind === 'struct') walk(t.fields, p);
    else if (t.kind === 'array') walkType(t.items, p);
    else if (t.kind === 'map') walkType(t.values, p);
  };
  walk(schema.fields, '');
  return out;
}

/** Fields a record schema stores as data (partition keys excluded). */
export const dataFields = (schema: RecordSchema): Field[] => schema.fields.filter((f) => !f.partition);
