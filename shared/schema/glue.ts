/**
 * Glue table definitions generated from the schemas: every declared field becomes a column with its full
 * nested type. Column names keep the JSON key's spelling; Athena's OpenX SerDe (`case.insensitive`) matches
 * them whatever their case. A top-level key that is not a valid column name gets a snake_case column and a
 * `mapping.<column>` SerDe property naming the key.
 */
import { dataFields, SchemaError, type Field, type RecordSchema } from './model';
import { hiveType, IDENTIFIER } from './sql-types';

export interface GlueColumn {
  name: string;
  type: string;
  comment?: string;
}

export interface GlueTableSpec {
  name: string;
  /** Schema $id the columns came from (recorded in the table parameters). */
  schemaId: string;
  columns: GlueColumn[];
  serdeParameters: Record<string, string>;
}

/** Glue column comments are limited to 255 characters. */
const MAX_COMMENT = 255;

export function columnComment(f: Field): string | undefined {
  const parts = [f.description];
  if (f.format) parts.push(`format: ${f.format}`);
  if (f.typed) parts.push(`typed in views as ${f.typed}`);
  const text = parts.filter(Boolean).join('; ');
  if (!text) return undefined;
  return text.length > MAX_COMMENT ? `${text.slice(0, MAX_COMMENT - 1)}…` : text;
}

/** The Glue/Athena column name for a top-level key. */
export function columnName(key: string): string {
  return IDENTIFIER.test(key)
    ? key
    : key
        .toLowerCase()
        .replace(/[^a-z0-9_]+/g, '_')
        .replace(/^([0-9])/, '_$1');
}

export function glueTable(schema: RecordSchema): GlueTableSpec {
  const serdeParameters: Record<string, string> = {};
  const seen = new Set<string>();
  const columns = dataFields(schema).map((f) => {
    const name = columnName(f.name);
    if (seen.has(name.toLowerCase())) {
      throw new SchemaError(`${schema.table}: column '${name}' (from key '${f.name}') is not unique`);
    }
    seen.add(name.toLowerCase());
    // With case.insensitive the SerDe lowercases keys before matching, so the mapping names the key lowercased.
    if (name !== f.name) serdeParameters[`mapping.${name.toLowerCase()}`] = f.name.toLowerCase();
    const comment = columnComment(f);
    return { name, type: hiveType(f.type, `${schema.table}.${f.name}`), ...(comment ? { comment } : {}) };
  });
  return { name: schema.table, schemaId: schema.$id, columns, serdeParameters };
}
