// The XML parsers we measured for VMDR Mobile batches (docs/benchmarks.md, "Mobile parser"): what the
// exporter used before (regex precheck + XMLValidator + fast-xml-parser with a jPath isArray), and
// fast-xml-parser configured at its best (no validator, jPath: false, isArray by tag name). The exporter's own
// strict reader is shared/modules/xml.ts. Bench-only: nothing in shared/ imports this file.
import { XMLParser, XMLValidator } from 'fast-xml-parser';

const common = {
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  processEntities: true,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
} as const;

const previous = new XMLParser({
  ...common,
  isArray: (_name: string, jpath: unknown) => {
    const parts = String(jpath).split('.');
    return parts.length >= 2 && parts[parts.length - 2]!.endsWith('_LIST');
  },
});

/** The parse the exporter shipped before: precheck (DTD, depth), XMLValidator, then parse. */
export function previousParse(text: string): unknown {
  if (/<!DOCTYPE[^>]*\[/i.test(text) || /<!ENTITY/i.test(text)) throw new Error('DTD refused');
  let depth = 0;
  const markup = text.replace(/<!\[CDATA\[[\s\S]*?\]\]>/g, '').replace(/<!--[\s\S]*?-->/g, '');
  const tag = /<(\/?)([A-Za-z_][\w.-]*)[^>]*?(\/?)>/g;
  for (let m = tag.exec(markup); m; m = tag.exec(markup)) {
    if (m[1]) depth--;
    else if (!m[3]) depth++;
    if (depth > 64) throw new Error('too deep');
  }
  const valid = XMLValidator.validate(text);
  if (valid !== true) throw new Error(valid.err.msg);
  return previous.parse(text);
}

// Children of *_LIST elements are arrays. With jPath: false fast-xml-parser hands isArray a matcher with no
// parent accessor, so the cheapest rule that gives the Mobile schema's arrays is a set of tag names.
const ARRAY_TAGS = new Set(['ASSET', 'DETECTION']);
const best = new XMLParser({
  ...common,
  jPath: false,
  isArray: (name: string) => ARRAY_TAGS.has(name),
} as ConstructorParameters<typeof XMLParser>[0]);

/** fast-xml-parser at its best: no validator pass (so truncation is NOT detected), no jPath, Set lookup. */
export function fxpBestParse(text: string): unknown {
  return best.parse(text);
}

/** fast-xml-parser with its validator (what strictness costs with the library). */
export function fxpBestValidatedParse(text: string): unknown {
  const valid = XMLValidator.validate(text);
  if (valid !== true) throw new Error(valid.err.msg);
  return best.parse(text);
}
