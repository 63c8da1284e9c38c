// What crosses into the CLI (and the Lambda event): --out locations, run ids, dotenv files, flags with text.
// Each refusal names what to fix.
import { describe, expect, it } from 'vitest';
import { parseFlags } from '../../bin/cli/args';
import { editDistance, nearestName, parseDotenv, unknownNameWarnings } from '../../bin/cli/dotenv';
import { bucketProblem, parseOut } from '../../bin/cli/out';
import { endsStatement } from '../../bin/cli/query';
import { parseExportEvent } from '../../shared/app/lambda-export';
import { loadConfig } from '../../shared/config';
import { ExportRun } from '../../shared/export/engine';
import { checkRunId, runIdProblem } from '../../shared/export/run-id';
import { ConfigError } from '../../shared/errors';
import { getModule } from '../../shared/modules';
import type { ObjectStore } from '../../shared/sink/types';

/** The ConfigError message `fn` throws (fails the test when it does not throw one). */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('--out', () => {
  it.each([
    ['exports', { kind: 'dir', path: 'exports' }],
    ['/abs/exports', { kind: 'dir', path: '/abs/exports' }],
    ['./name:with-colon', { kind: 'dir', path: './name:with-colon' }],
    ['C:\\exports', { kind: 'dir', path: 'C:\\exports' }],
    ['s3://my-bucket', { kind: 's3', bucket: 'my-bucket', prefix: '' }],
    ['s3://my-bucket/', { kind: 's3', bucket: 'my-bucket', prefix: '' }],
    ['s3://my.bucket-1/qualys/prod/', { kind: 's3', bucket: 'my.bucket-1', prefix: 'qualys/prod' }],
  ])('accepts %j', (value, expected) => {
    expect(parseOut(value)).toEqual(expected);
  });

  const EXPECTED = 'expected a directory or s3://bucket[/prefix]';
  it.each([
    ['S3://b/x', `--out 'S3://b/x' is not an S3 location qexport reads: ${EXPECTED}; did you mean s3://b/x?`],
    ['s3:/b/x', `--out 's3:/b/x' is not an S3 location qexport reads: ${EXPECTED}; did you mean s3://b/x?`],
    ['s3:b/x', `--out 's3:b/x' is not an S3 location qexport reads: ${EXPECTED}; did you mean s3://b/x?`],
    [
      'https://b.s3.amazonaws.com/x',
      `--out 'https://b.s3.amazonaws.com/x' is not an S3 location qexport reads: ${EXPECTED}; did you mean s3://b/x?`,
    ],
    [
      'https://my-bucket.s3.eu-west-1.amazonaws.com/qualys/',
      `--out 'https://my-bucket.s3.eu-west-1.amazonaws.com/qualys/' is not an S3 location qexport reads: ${EXPECTED}; did you mean s3://my-bucket/qualys?`,
    ],
    [
      'https://s3.us-east-2.amazonaws.com/my-bucket/qualys',
      `--out 'https://s3.us-east-2.amazonaws.com/my-bucket/qualys' is not an S3 location qexport reads: ${EXPECTED}; did you mean s3://my-bucket/qualys?`,
    ],
    [
      'arn:aws:s3:::b',
      `--out 'arn:aws:s3:::b' is not an S3 location qexport reads: ${EXPECTED}; did you mean s3://b?`,
    ],
    [
      'arn:aws:s3:::my-bucket/qualys',
      `--out 'arn:aws:s3:::my-bucket/qualys' is not an S3 location qexport reads: ${EXPECTED}; did you mean s3://my-bucket/qualys?`,
    ],
    ['', `--out is empty: ${EXPECTED}`],
    ['  ', `--out is empty: ${EXPECTED}`],
    ['file:///tmp/out', `--out 'file:///tmp/out' is a URL: ${EXPECTED}; did you mean /tmp/out?`],
    ['gs://bucket/x', `--out 'gs://bucket/x' looks like a URL or ARN ('gs:'): ${EXPECTED}`],
    [
      'arn:aws:s3:us-east-1:123456789012:accesspoint/ap',
      `--out 'arn:aws:s3:us-east-1:123456789012:accesspoint/ap' looks like a URL or ARN ('arn:'): ${EXPECTED} ` +
        "(for a directory whose name contains ':', write ./arn:aws:s3:us-east-1:123456789012:accesspoint/ap)",
    ],
    ['s3://', `--out 's3://' names no bucket: ${EXPECTED}`],
    [
      's3://My-Bucket/x',
      "--out: bucket name 'My-Bucket' has uppercase letters (bucket names are lowercase); did you mean s3://my-bucket/x?",
    ],
    ['s3://b_x/q', "--out: bucket name 'b_x' may contain only lowercase letters, digits, '.' and '-'"],
    ['s3://bucket/q?x=1', `--out 's3://bucket/q?x=1' has a query or fragment: ${EXPECTED}`],
    [
      's3://bucket/../x',
      "--out: the prefix '../x' in 's3://bucket/../x' must not contain a '.' or '..' segment",
    ],
    [
      's3://bucket/a//b',
      "--out: the prefix 'a//b' in 's3://bucket/a//b' must not contain an empty segment ('//')",
    ],
  ])('refuses %j naming the form and the fix', (value, message) => {
    expect(refusal(() => parseOut(value))).toBe(message);
  });

  it.each([
    ['ab', 'is 2 characters long (3-63 allowed)'],
    ['a'.repeat(64), 'is 64 characters long (3-63 allowed)'],
    ['-bucket', 'must start and end with a letter or digit'],
    ['bucket.', 'must start and end with a letter or digit'],
    ['my..bucket', "must not contain '..'"],
    ['192.168.5.4', 'must not look like an IP address'],
    ['xn--bucket', "must not start with 'xn--' (reserved by S3)"],
    ['sthree-bucket', "must not start with 'sthree-' (reserved by S3)"],
    ['bucket-s3alias', "must not end with '-s3alias' (reserved by S3)"],
    ['bucket--ol-s3', "must not end with '--ol-s3' (reserved by S3)"],
  ])('bucket name %j %s', (bucket, problem) => {
    expect(bucketProblem(bucket)).toBe(problem);
  });
});

describe('run ids', () => {
  it.each(['20261123T101112Z-a1b2c3', 'nightly-2026-11-23', 'a', 'A.b_c-9', 'x'.repeat(80)])(
    'accepts %j',
    (id) => {
      expect(runIdProblem(id)).toBeUndefined();
    },
  );

  it.each([
    ['', 'is empty'],
    ['..', "starts with '.'; start with a letter or digit (readers skip files starting with '.' or '_')"],
    [
      '.hidden',
      "starts with '.'; start with a letter or digit (readers skip files starting with '.' or '_')",
    ],
    ['_x', "starts with '_'; start with a letter or digit (readers skip files starting with '.' or '_')"],
    ['-x', "starts with '-'; start with a letter or digit (readers skip files starting with '.' or '_')"],
    ['a..b', "contains '..'"],
    ['a.', "ends with '.'"],
    ['a/b', "contains a path separator '/'; use only letters, digits, '.', '_' and '-'"],
    ['a\\b', "contains a path separator '\\'; use only letters, digits, '.', '_' and '-'"],
    ['a b', "contains whitespace; use only letters, digits, '.', '_' and '-'"],
    ['a\u0001b', "contains a control character; use only letters, digits, '.', '_' and '-'"],
    ['run=1', "contains '='; use only letters, digits, '.', '_' and '-'"],
    ['é', "contains 'é'; use only letters, digits, '.', '_' and '-'"],
    ['x'.repeat(81), 'is 81 characters long; at most 80 are allowed'],
  ])('refuses %j: %s', (id, problem) => {
    expect(runIdProblem(id)).toBe(problem);
    expect(refusal(() => checkRunId(id, '--run-id'))).toMatch(/^--run-id /);
  });

  it('the Lambda event names the field', () => {
    expect(refusal(() => parseExportEvent({ runId: '..' }))).toMatch(/^event\.runId '\.\.' starts with '\.'/);
    expect(refusal(() => parseExportEvent({ runId: 7 }))).toBe(
      'event.runId must be a string, got number (e.g. nightly-2026-11-23)',
    );
    expect(refusal(() => parseExportEvent({ continuation: { runId: 'a/b' } }))).toMatch(
      /^event\.continuation\.runId 'a\/b' contains a path separator/,
    );
    expect(parseExportEvent({ runId: 'nightly-1' })).toEqual({ runId: 'nightly-1' });
  });

  it('the engine refuses one before it touches the store (last line of defence)', async () => {
    const touched: string[] = [];
    const store = new Proxy({} as ObjectStore, {
      get: (_t, name) => () => {
        touched.push(String(name));
        throw new Error(`store.${String(name)} called`);
      },
    });
    const begin = ExportRun.begin({
      module: getModule('pci-scans'),
      config: loadConfig({ QUALYS_PLATFORM: 'US1' }),
      client: {} as never,
      store,
      invocation: { runId: '../escape' },
      deadline: () => Date.now() + 60_000,
    });
    await expect(begin).rejects.toThrow(ConfigError);
    await expect(begin).rejects.toThrow(/^runId '\.\.\/escape' contains a path separator '\/'/);
    expect(touched).toEqual([]);
  });
});

describe('QEXPORT_PREFIX', () => {
  it.each([
    ['../x', "QEXPORT_PREFIX must not contain a '.' or '..' segment, got '../x'"],
    ['a/./b', "QEXPORT_PREFIX must not contain a '.' or '..' segment, got 'a/./b'"],
    ['a//b', "QEXPORT_PREFIX must not contain an empty segment ('//'), got 'a//b'"],
    ['a b', "QEXPORT_PREFIX may contain only letters, digits and !_.*'()/- characters, got 'a b'"],
  ])('%j is a configuration error naming the variable', (prefix, message) => {
    expect(refusal(() => loadConfig({ QUALYS_PLATFORM: 'US1', QEXPORT_PREFIX: prefix }))).toBe(message);
  });

  it('accepts nested prefixes, trimming slashes', () => {
    expect(loadConfig({ QUALYS_PLATFORM: 'US1', QEXPORT_PREFIX: '/qualys/prod/' }).output.prefix).toBe(
      'qualys/prod',
    );
  });
});

describe('dotenv files', () => {
  it('reads what Node reads: quotes, export, comments, multi-line values, \\n in double quotes', () => {
    const { values, warnings } = parseDotenv(
      [
        '# a comment',
        '',
        'QUALYS_PLATFORM=US2',
        'export QUALYS_CLIENT_ID = client-1 # the client',
        'QUALYS_CLIENT_SECRET="s3cret #not a comment"',
        "QUALYS_SCOPE='openid profile'",
        'QUALYS_CERTVIEW_FILTER=`{"a":1}`',
        'QUALYS_ISSUER="line one\\nline two"',
        'QUALYS_AUDIENCE="spans',
        'two lines"',
        'QUALYS_USERNAME=',
      ].join('\r\n'),
      'my.env',
    );
    expect(warnings).toEqual([]);
    expect(values).toEqual({
      QUALYS_PLATFORM: 'US2',
      QUALYS_CLIENT_ID: 'client-1',
      QUALYS_CLIENT_SECRET: 's3cret #not a comment',
      QUALYS_SCOPE: 'openid profile',
      QUALYS_CERTVIEW_FILTER: '{"a":1}',
      QUALYS_ISSUER: 'line one\nline two',
      QUALYS_AUDIENCE: 'spans\ntwo lines',
      QUALYS_USERNAME: '',
    });
  });

  it('warns about every line it skips or may misread, with file and line, never quoting a value', () => {
    const { values, warnings } = parseDotenv(
      [
        'QUALYS_PLATFORM=US2',
        'QUALYS_CLIENT_SECRET: hunter2-secret', // 2: not KEY=value
        'MY-VAR=1', // 3: not a name
        'QUALYS_PASSWORD="open-quote-secret', // 4: quote never closed before the next assignment
        'QUALYS_USERNAME=admin',
        'QUALYS_PCI_PASSWORD=abc#def-secret', // 6: value cut at '#'
        'QUALYS_SCOPE="openid" profile', // 7: text after the closing quote
        'QUALYS_EDR_PAGE_SZIE=100', // 8: unknown, near QUALYS_EDR_PAGE_SIZE
        'QEXPORT_NOTHING_LIKE_ANY_SETTING=1', // 9: unknown, nothing near
        'QUALYS_PLATFORM=US1', // 10: set again
        "QUALYS_AUDIENCE='never closed", // 11
      ].join('\n'),
      '.env',
    );
    expect(warnings).toEqual([
      ".env:2: not KEY=value (no '='); line ignored",
      ".env:3: 'MY-VAR' is not a variable name (letters, digits and '_', not starting with a digit); line ignored",
      '.env:4: QUALYS_PASSWORD\'s value opens a " quote that is not closed on its line (it would swallow QUALYS_USERNAME below); line ignored',
      ".env:6: QUALYS_PCI_PASSWORD's value stops at '#' (the rest is read as a comment); quote the value if '#' belongs to it",
      '.env:7: text after QUALYS_SCOPE\'s closing " quote is ignored',
      '.env:10: QUALYS_PLATFORM is set again (first on line 1); the later value wins',
      ".env:11: QUALYS_AUDIENCE's value opens a ' quote that is never closed; line ignored",
      '.env:8: QUALYS_EDR_PAGE_SZIE is not a qexport setting; did you mean QUALYS_EDR_PAGE_SIZE?',
      '.env:9: QEXPORT_NOTHING_LIKE_ANY_SETTING is not a qexport setting (see docs/configuration.md)',
    ]);
    for (const secret of ['hunter2-secret', 'open-quote-secret', 'def-secret']) {
      expect(warnings.join('\n')).not.toContain(secret);
    }
    expect(values).toMatchObject({
      QUALYS_PLATFORM: 'US1',
      QUALYS_USERNAME: 'admin',
      QUALYS_PCI_PASSWORD: 'abc',
    });
    expect(values).not.toHaveProperty('QUALYS_PASSWORD');
  });

  it('names in the environment are checked by the same rule; only QUALYS_* and QEXPORT_* names', () => {
    expect(
      unknownNameWarnings(
        ['QUALYS_CLIENTID', 'QEXPORT_PREFIX', 'PATH', 'QUALYS_PLATFORM', 'AWS_REGION'],
        () => 'environment',
      ),
    ).toEqual(['environment: QUALYS_CLIENTID is not a qexport setting; did you mean QUALYS_CLIENT_ID?']);
  });

  it('nearest names: a transposition is one edit; far names suggest nothing', () => {
    expect(editDistance('SZIE', 'SIZE')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(nearestName('QEXPORT_PREFX', ['QEXPORT_PREFIX', 'QUALYS_PLATFORM'])).toBe('QEXPORT_PREFIX');
    expect(nearestName('QEXPORT_X', ['QEXPORT_PREFIX'])).toBeUndefined();
  });
});

describe('flags', () => {
  it('SQL starting with a comment is text, not an option', () => {
    const sql = '-- what was exported\nSELECT 1';
    const { positionals, values } = parseFlags('query', ['dir', sql, '--format', 'csv'], {
      format: { type: 'string' },
    });
    expect(positionals).toEqual(['dir', sql]);
    expect(values.format).toBe('csv');
  });

  it('--env-file names --dotenv, and says which commands take it', () => {
    expect(refusal(() => parseFlags('token', ['--env-file', 'x'], { dotenv: { type: 'string' } }))).toBe(
      "--env-file is now --dotenv (Node.js itself reads --env-file from every command line); use 'qexport token --dotenv FILE'",
    );
    expect(refusal(() => parseFlags('demo', ['--env-file=x'], {}))).toBe(
      '--env-file is now --dotenv (Node.js itself reads --env-file from every command line); qexport demo takes no --dotenv; export, token, state and query do',
    );
  });
});

describe('the interactive query reader', () => {
  it.each([
    ['SELECT 1;', true],
    ['SELECT 1', false],
    ["SELECT ';'", false],
    ["SELECT 'it''s';", true],
    ['SELECT 1; -- done', true],
    ['SELECT 1 /* ; */', false],
    ['SELECT "a;b"', false],
    ["SELECT 'open", false],
    ['/* open comment;', false],
  ])('%j ends a statement: %s', (text, ends) => {
    expect(endsStatement(text)).toBe(ends);
  });
});
