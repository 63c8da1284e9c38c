// `npm run docs:gen` — regenerates docs/data-dictionary.md and the generated blocks of docs/querying.md from
// schemas/*.schema.json. test/unit/docs.test.ts fails when either is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dataDictionary, fillBlocks, queryingBlocks } from '../shared/schema/docs';

const DOCS = join(import.meta.dirname, '..', 'docs');
writeFileSync(join(DOCS, 'data-dictionary.md'), dataDictionary());
const querying = join(DOCS, 'querying.md');
writeFileSync(querying, fillBlocks(readFileSync(querying, 'utf8'), queryingBlocks()));
console.log('wrote docs/data-dictionary.md and the generated blocks of docs/querying.md');
