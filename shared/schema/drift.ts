/**
 * Schema drift: does a record carry fields its module's schema does not declare? The engine calls the checker
 * on every record (the record is always written whole) and counts drifting records per run in the manifest
 * (`schemaDrift`) and as the SchemaDriftRecords metric, so a Qualys API change is noticed the day it ships.
 *
 * Cost matters: the checker walks each record once against a precompiled tree of known keys, allocates
 * nothing for a record without drift, and stops collecting paths after a few. Records of one API share their
 * key order (JSON.parse keeps the server's), so each struct node remembers the key lists of the last few objects
 * it found clean: an object with exactly one of those lists, in that order, is checked by comparing each key with
 * the remembered one (interned strings: a pointer comparison) instead of looking it up, and only its nested
 * fields are walked (issue 14: the lookups were 3 µs of a CertView certificate's 30). A few lists, not one, so
 * records whose optional fields come and go do not replace the remembered list on every record. Only field names
 * are checked
 * (a changed value type shows up as NULL typed columns, not here); a map's keys are data, never drift; values
 * whose shape is not published (x-opaque) are not looked into.
 */
import type { ModuleName } from '../config';
import { MODULE_SCHEMAS } from './index';
import type { Field, FieldType } from './model';

/** Per-run summary, as it goes into the manifest. Plain JSON, so a checkpoint can carry it across invocations. */
export interface DriftSummary {
  /** Records that carried at least one undeclared field. */
  records: number;
  /** Distinct undeclared field paths seen, at most MAX_DRIFT_FIELDS (e.g. `asset.newField`, `assets.tags.color`). */
  fields: string[];
}

/** Undeclared paths reported per record, and kept per run. */
export const MAX_PATHS_PER_RECORD = 5;
export const MAX_DRIFT_FIELDS = 20;

/** A compiled node: what to check inside a value. */
type Node =
  | StructNode // struct: known keys
  | { k: 'a'; items: Node } // array: check each element
  | { k: 'm'; values: Node } // map: keys are data; check each value
  | { k: 'x' }; // scalar or opaque: nothing to check inside

interface StructNode {
  k: 's';
  fields: Record<string, Node>;
  /** Key lists of the last objects found to declare every key they have, newest first (at most MAX_SHAPES). */
  shapes: Shape[];
}

interface Shape {
  /** The object's keys, in order. */
  keys: string[];
  /** Those whose values have something to check inside (not scalar or opaque). */
  nested: string[];
}

/** Key lists remembered per struct node. */
const MAX_SHAPES = 4;

/** Whether `obj` has exactly `keys`, in that order (for...in: own enumerable keys, as JSON.parse makes them). */
function hasKeys(obj: Record<string, unknown>, keys: string[]): boolean {
  let i = 0;
  for (const key in obj) if (key !== keys[i++]) return false;
  return i === keys.length;
}

const LEAF: Node = { k: 'x' };

function compileType(t: FieldType): Node {
  switch (t.kind) {
    case 'struct':
      return compileFields(t.fields);
    case 'array': {
      const items = compileType(t.items);
      return items === LEAF ? LEAF : { k: 'a', items };
    }
    case 'map': {
      const values = compileType(t.values);
      return values === LEAF ? LEAF : { k: 'm', values };
    }
    default:
      return LEAF;
  }
}

function compileFields(fields: Field[]): Node {
  const known: Record<string, Node> = Object.create(null) as Record<string, Node>;
  for (const f of fields) known[f.name] = compileType(f.type);
  return { k: 's', fields: known, shapes: [] };
}

/**
 * Appends the undeclared paths of `value` to `out` (created on the first one). `stack` holds the keys leading
 * here; a path string is built only when a field is undeclared, so a clean record allocates nothing.
 */
function walk(node: Node, value: unknown, stack: string[], out: string[] | undefined): string[] | undefined {
  if (value === null || typeof value !== 'object') return out;
  switch (node.k) {
    case 's': {
      if (Array.isArray(value)) return out;
      const obj = value as Record<string, unknown>;
      const known = node.fields;
      // Fast path: the same keys in the same order as a recent clean object at this node.
      for (const shape of node.shapes) {
        if (!hasKeys(obj, shape.keys)) continue;
        for (const key of shape.nested) {
          stack.push(key);
          out = walk(known[key]!, obj[key], stack, out);
          stack.pop();
        }
        return out;
      }
      let clean = true;
      for (const key in obj) {
        const child = known[key];
        if (child === undefined) {
          clean = false;
          out ??= [];
          if (out.length < MAX_PATHS_PER_RECORD) out.push(stack.length ? `${stack.join('.')}.${key}` : key);
        } else if (child.k !== 'x') {
          stack.push(key);
          out = walk(child, obj[key], stack, out);
          stack.pop();
        }
      }
      // Remember this object's keys for the next ones (the oldest list goes when MAX_SHAPES are kept).
      if (clean) {
        const keys = Object.keys(obj);
        if (node.shapes.length >= MAX_SHAPES) node.shapes.pop();
        node.shapes.unshift({ keys, nested: keys.filter((key) => known[key]!.k !== 'x') });
      }
      return out;
    }
    case 'a':
      if (!Array.isArray(value)) return out;
      for (let i = 0; i < value.length; i++) out = walk(node.items, value[i], stack, out);
      return out;
    case 'm':
      if (Array.isArray(value)) return out;
      for (const key in value) out = walk(node.values, (value as Record<string, unknown>)[key], stack, out);
      return out;
    default:
      return out;
  }
}

export type DriftCheck = (record: Record<string, unknown>) => string[] | undefined;

const compiled = new Map<ModuleName, Node>();

/**
 * The checker for a module: `undefined` when every field of the record is declared (the common, allocation-free
 * case), otherwise up to MAX_PATHS_PER_RECORD undeclared paths (array levels are transparent: `assets.tags.x`).
 */
export function driftChecker(module: ModuleName): DriftCheck {
  let root = compiled.get(module);
  if (!root) {
    root = compileFields(MODULE_SCHEMAS[module].fields);
    compiled.set(module, root);
  }
  const node = root;
  const stack: string[] = [];
  return (record) => {
    stack.length = 0;
    return walk(node, record, stack, undefined);
  };
}

export const emptyDrift = (): DriftSummary => ({ records: 0, fields: [] });

/** Adds one record's result to a run's summary (in place; returns it). */
export function addDrift(summary: DriftSummary, paths: string[] | undefined): DriftSummary {
  if (!paths) return summary;
  summary.records++;
  addFields(summary.fields, paths);
  return summary;
}

/** Combines the summaries of two stretches of one run (e.g. the checkpointed one and this invocation's). */
export function mergeDrift(a: DriftSummary, b: DriftSummary): DriftSummary {
  return { records: a.records + b.records, fields: addFields([...a.fields], b.fields) };
}

/** Appends the `paths` not yet in `fields`, up to MAX_DRIFT_FIELDS in all (in place; returns `fields`). */
function addFields(fields: string[], paths: readonly string[]): string[] {
  for (const p of paths) {
    if (fields.length >= MAX_DRIFT_FIELDS) break;
    if (!fields.includes(p)) fields.push(p);
  }
  return fields;
}
