/**
 * docs/configuration.md, generated from ENV_REFERENCE (shared/config.ts) by `npm run docs:gen`.
 * test/unit/config-docs.test.ts fails when the page is stale or a variable has no row.
 */
import { ENV, ENV_REFERENCE, type EnvRow, type EnvSection } from './config';

const cell = (s: string) => s.replace(/\|/g, '\\|');

/** `[min, max]` as text; other allowed values as written. */
export function allowedText(allowed: EnvRow[2]): string {
  return typeof allowed === 'string' ? allowed : `${allowed[0]}–${allowed[1]}`;
}

export function configurationPage(): string {
  const sections = new Map<EnvSection, [string, EnvRow][]>();
  for (const [key, row] of Object.entries(ENV_REFERENCE) as [keyof typeof ENV, EnvRow][]) {
    const list = sections.get(row[0]) ?? [];
    list.push([ENV[key], row]);
    sections.set(row[0], list);
  }
  const out = [
    '# Configuration reference',
    '',
    '<!-- Generated from ENV_REFERENCE in shared/config.ts by `npm run docs:gen`: edit the table there, not this page. -->',
    '',
    'One parser (`shared/config.ts`) reads these for the CLI and the Lambda functions alike; every bad value is',
    "reported with the variable's name, all at once (the CLI exits 2). The CLI reads them from the environment and",
    'from a dotenv file (`--dotenv FILE`, default `./.env` when present; the real environment wins). It warns about',
    'every dotenv line that is not `KEY=value` or leaves a quote open, and about every `QUALYS_*` or `QEXPORT_*`',
    'name, in the file or the environment, that is not on this page, naming the nearest one. In AWS the',
    'credentials are not environment variables: they live in the credentials secrets ([credentials](credentials.md)).',
    '',
    'Secrets (`QUALYS_CLIENT_SECRET`, `QUALYS_PASSWORD`, `QUALYS_PCI_PASSWORD`, `QUALYS_PCI_CLIENT_SECRET`, the',
    'same fields of the credentials secrets, a proxy password) must be at least **8 characters**. Every registered',
    'secret is masked in logs and messages wherever it stands as a value (never inside a longer word); a shorter',
    'value would collide with ordinary words (`wrong`, `admin`), so it is refused with a configuration error naming',
    'the variable. 8 is also the shortest password NIST SP 800-63B allows.',
  ];
  for (const [section, rows] of sections) {
    out.push('', `## ${section}`, '', '| variable | default | allowed | meaning |', '|---|---|---|---|');
    for (const [name, [, dflt, allowed, meaning]] of rows) {
      out.push(`| \`${name}\` | ${cell(dflt)} | ${cell(allowedText(allowed))} | ${cell(meaning)} |`);
    }
  }
  return `${out.join('\n')}\n`;
}
