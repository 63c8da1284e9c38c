/**
 * One schema type, rendered for each reader. Names inside nested types keep the JSON key's exact spelling
 * wherever the reader is case-sensitive (DuckDB, Spark, Snowflake paths); Trino/Athena lowercase them.
 */
import { SchemaError, type FieldType, type Scalar } from './model';

/** A name Hive, Trino, DuckDB and Spark all accept unquoted as a struct field. */
export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function fieldName(name: string, where: string): string {
  if (!IDENTIFIER.test(name)) {
    throw new SchemaError(
      `${where}: struct field '${name}' is not an identifier; declare the object as a map (additionalProperties)`,
    );
  }
  return name;
}

const HIVE_SCALAR: Record<Scalar, string> = {
  string: 'string',
  integer: 'bigint',
  number: 'double',
  boolean: 'boolean',
};

/** Glue / Hive DDL type, e.g. `struct<name:string,organizationUnit:array<string>>`. */
export function hiveType(t: FieldType, where = 'type'): string {
  switch (t.kind) {
    case 'scalar':
      return HIVE_SCALAR[t.scalar];
    case 'json':
      return 'string';
    case 'array':
      return `array<${hiveType(t.items, where)}>`;
    case 'map':
      return `map<string,${hiveType(t.values, where)}>`;
    case 'struct':
      return `struct<${t.fields.map((f) => `${fieldName(f.name, where)}:${hiveType(f.type, `${where}.${f.name}`)}`).join(',')}>`;
  }
}

const TRINO_SCALAR: Record<Scalar, string> = {
  string: 'varchar',
  integer: 'bigint',
  number: 'double',
  boolean: 'boolean',
};

/**
 * Trino type signature as Athena analyses the Glue column (row field names lowercased and quoted, as Trino
 * prints them). Used for the view column list stored in the Presto view definition.
 */
export function trinoType(t: FieldType, where = 'type'): string {
  switch (t.kind) {
    case 'scalar':
      return TRINO_SCALAR[t.scalar];
    case 'json':
      return 'varchar';
    case 'array':
      return `array(${trinoType(t.items, where)})`;
    case 'map':
      return `map(varchar, ${trinoType(t.values, where)})`;
    case 'struct':
      return `row(${t.fields.map((f) => `"${fieldName(f.name, where).toLowerCase()}" ${trinoType(f.type, `${where}.${f.name}`)}`).join(', ')})`;
  }
}

const DUCKDB_SCALAR: Record<Scalar, string> = {
  string: 'VARCHAR',
  integer: 'BIGINT',
  number: 'DOUBLE',
  boolean: 'BOOLEAN',
};

/** DuckDB type with exact-case field names (read_json matches JSON keys case-sensitively). */
export function duckdbType(t: FieldType, where = 'type'): string {
  switch (t.kind) {
    case 'scalar':
      return DUCKDB_SCALAR[t.scalar];
    case 'json':
      return 'JSON';
    case 'array':
      return `${duckdbType(t.items, where)}[]`;
    case 'map':
      return `MAP(VARCHAR, ${duckdbType(t.values, where)})`;
    case 'struct':
      return `STRUCT(${t.fields.map((f) => `"${fieldName(f.name, where)}" ${duckdbType(f.type, `${where}.${f.name}`)}`).join(', ')})`;
  }
}

const SPARK_SCALAR: Record<Scalar, string> = {
  string: 'STRING',
  integer: 'BIGINT',
  number: 'DOUBLE',
  boolean: 'BOOLEAN',
};

/** Spark SQL DDL type with exact-case, back-quoted field names (Spark's JSON reader matches keys exactly). */
export function sparkType(t: FieldType, where = 'type'): string {
  switch (t.kind) {
    case 'scalar':
      return SPARK_SCALAR[t.scalar];
    case 'json':
      return 'STRING';
    case 'array':
      return `ARRAY<${sparkType(t.items, where)}>`;
    case 'map':
      return `MAP<STRING, ${sparkType(t.values, where)}>`;
    case 'struct':
      return `STRUCT<${t.fields.map((f) => `\`${fieldName(f.name, where)}\`: ${sparkType(f.type, `${where}.${f.name}`)}`).join(', ')}>`;
  }
}

const SNOWFLAKE_SCALAR: Record<Scalar, string> = {
  string: 'VARCHAR',
  integer: 'NUMBER(38,0)',
  number: 'FLOAT',
  boolean: 'BOOLEAN',
};

/** Snowflake column type for a top-level field (nested values stay semi-structured). */
export function snowflakeType(t: FieldType): string {
  switch (t.kind) {
    case 'scalar':
      return SNOWFLAKE_SCALAR[t.scalar];
    case 'json':
      return 'VARIANT';
    case 'array':
      return 'ARRAY';
    case 'map':
    case 'struct':
      return 'OBJECT';
  }
}
