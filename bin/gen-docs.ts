// `npm run docs:gen` — regenerates docs/data-dictionary.md and the generated blocks of docs/querying.md from
// schemas/*.schema.json, and docs/configuration.md from ENV_REFERENCE in shared/config.ts.
// test/unit/docs.test.ts and test/unit/config-docs.test.ts fail when any is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configurationPage } from '../shared/config-docs';
import { dataDictionary, fillBlocks, queryingBlocks } from '../shared/schema/docs';

const DOCS = join(import.meta.dirname, '..', 'docs');
writeFileSync(join(DOCS, 'data-dictionary.md'), dataDictionary());
const querying = join(DOCS, 'querying.md');
writeFileSync(querying, fillBlocks(readFileSync(querying, 'utf8'), queryingBlocks()));
writeFileSync(join(DOCS, 'configuration.md'), configurationPage());
console.log(
  'wrote docs/data-dictionary.md, docs/configuration.md and the generated blocks of docs/querying.md',
);
