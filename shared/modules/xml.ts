import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { ParseError, QexportError } from '../errors';

/** Largest XML body we parse (a truncation batch is bounded by truncation_limit; this guards memory). */
export const MAX_XML_BYTES = 256 * 1024 * 1024;
const MAX_DEPTH = 64;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  // Values stay exact strings: IDs, QIDs and dates are never reinterpreted as numbers.
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  // CDATA becomes plain text (no cdataPropName).
  processEntities: true,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  // Every child of an element named *_LIST (ASSET_LIST/ASSET, DETECTION_LIST/DETECTION, …) is an array,
  // however many there are.
  isArray: (_name, jpath) => {
    const parts = String(jpath).split('.');
    return parts.length >= 2 && parts[parts.length - 2]!.endsWith('_LIST');
  },
});

/** Rejects what the parser must never see: internal DTD subsets (entity expansion) and absurd nesting. */
function precheck(text: string): void {
  if (text.length > MAX_XML_BYTES)
    throw new ParseError(`XML body of ${text.length} bytes exceeds the ${MAX_XML_BYTES}-byte limit`);
  if (/<!DOCTYPE[^>]*\[/i.test(text) || /<!ENTITY/i.test(text)) {
    throw new ParseError('XML with an internal DTD subset or entity declarations is refused');
  }
  let depth = 0;
  let max = 0;
  const markup = text.replace(/<!\[CDATA\[[\s\S]*?\]\]>/g, '').replace(/<!--[\s\S]*?-->/g, '');
  const tag = /<(\/?)([A-Za-z_][\w.-]*)[^>]*?(\/?)>/g;
  for (let m = tag.exec(markup); m; m = tag.exec(markup)) {
    if (m[1]) depth--;
    else if (!m[3]) depth++;
    if (depth > max) max = depth;
    if (max > MAX_DEPTH) throw new ParseError(`XML nesting deeper than ${MAX_DEPTH} levels is refused`);
  }
}

/** Validates and parses an XML document; malformed or truncated input is a ParseError (retryable). */
export function parseXml(text: string): Record<string, unknown> {
  precheck(text);
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    throw new ParseError(`malformed XML at line ${valid.err.line}: ${valid.err.msg}`);
  }
  let doc: unknown;
  try {
    doc = parser.parse(text) as unknown;
  } catch (err) {
    // The validator passes a few inputs the parser then rejects (e.g. '<A/'): still malformed XML.
    throw new ParseError(`malformed XML: ${(err as Error).message}`);
  }
  if (!doc || typeof doc !== 'object') throw new ParseError('XML document has no root element');
  return doc as Record<string, unknown>;
}

/** A SIMPLE_RETURN error document → a clear error with CODE and TEXT; undefined for other documents. */
export function simpleReturnError(doc: Record<string, unknown>): QexportError | undefined {
  const sr = doc.SIMPLE_RETURN as { RESPONSE?: { CODE?: unknown; TEXT?: unknown } } | undefined;
  if (!sr) return undefined;
  const code = String(sr.RESPONSE?.CODE ?? 'unknown');
  const text = String(sr.RESPONSE?.TEXT ?? '');
  return new QexportError('api', `Qualys answered SIMPLE_RETURN code ${code}: ${text}`);
}
