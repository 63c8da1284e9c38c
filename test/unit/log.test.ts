import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfig, loadCredentials, parseCredentials } from '../../shared/config';
import { ConfigError } from '../../shared/errors';
import {
  addSecret,
  createLogger,
  logLevelProblem,
  MIN_SECRET_LENGTH,
  parseLogLevel,
  redact,
} from '../../shared/log';

describe('redact', () => {
  it('masks a secret where it stands as a value: alone, quoted, in a query string, after a colon', () => {
    expect(addSecret('Tr0ub4dor-and-3')).toBe(true);
    expect(redact('client secret Tr0ub4dor-and-3 refused')).toBe('client secret [REDACTED] refused');
    expect(redact('{"clientSecret":"Tr0ub4dor-and-3"}')).toBe('{"clientSecret":"[REDACTED]"}');
    expect(redact('POST /auth?secret=Tr0ub4dor-and-3&x=1')).toBe('POST /auth?secret=[REDACTED]&x=1');
    expect(redact('basic user:Tr0ub4dor-and-3')).toBe('basic user:[REDACTED]');
    expect(redact('Tr0ub4dor-and-3')).toBe('[REDACTED]');
  });

  it('never masks part of a longer word or identifier', () => {
    addSecret('credential');
    // An ordinary word that merely contains the secret is left alone.
    expect(redact('check the credentials (wrong secret)')).toBe('check the credentials (wrong secret)');
    expect(redact('xcredential')).toBe('xcredential');
    // The secret standing alone is still masked.
    expect(redact('secret was credential.')).toBe('secret was [REDACTED].');
  });

  it('masks the URL-encoded, form-encoded and JSON-escaped forms of a secret', () => {
    const secret = 'p@ss word/"quoted"+1';
    addSecret(secret);
    expect(redact(`body client_secret=${encodeURIComponent(secret)}&a=b`)).toBe(
      'body client_secret=[REDACTED]&a=b',
    );
    expect(redact(`form ${new URLSearchParams({ s: secret }).toString()}`)).toBe('form s=[REDACTED]');
    expect(redact(`json ${JSON.stringify({ s: secret })}`)).toBe('json {"s":"[REDACTED]"}');
    expect(redact(`raw ${secret}!`)).toBe('raw [REDACTED]!');
  });

  it('masks a secret that contains another registered secret whole', () => {
    addSecret('inner-secret-1');
    addSecret('outer-inner-secret-1-x');
    expect(redact('got outer-inner-secret-1-x')).toBe('got [REDACTED]');
  });

  it('masks JWT-shaped strings without registration', () => {
    expect(redact('Bearer eyJhbGciOi.eyJzdWIiOiJ4In0.c2ln')).toBe('Bearer [REDACTED]');
  });

  it(`does not register values shorter than ${MIN_SECRET_LENGTH} characters (configuration refuses them)`, () => {
    expect(addSecret('wrong')).toBe(false);
    expect(redact('check the credentials (wrong secret, locked or disabled account)')).toBe(
      'check the credentials (wrong secret, locked or disabled account)',
    );
  });

  it('any registered secret never survives in a message that quotes it', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: MIN_SECRET_LENGTH, maxLength: 40 }),
        fc.constantFrom(' ', '"', "'", ':', '=', '(', '\n', ''),
        (secret, sep) => {
          addSecret(secret);
          const text = `before${sep === '' ? ' ' : sep}${secret}${sep === '' ? ' ' : sep}after`;
          expect(redact(text)).not.toContain(secret);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the logger masks registered values and credential-like keys', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'debug', write: (l) => lines.push(l) });
    addSecret('logger-secret-value');
    log.info('token logger-secret-value expired', { password: 'anything', note: 'logger-secret-value' });
    expect(lines.join('\n')).not.toContain('logger-secret-value');
    expect(lines.join('\n')).not.toContain('anything');
  });
});

describe('log level', () => {
  it('lenient parse for building a logger; strict check names the allowed values', () => {
    expect(parseLogLevel('DEBUG')).toBe('debug');
    expect(parseLogLevel('verbose')).toBe('info');
    expect(logLevelProblem('warn', 'QEXPORT_LOG_LEVEL')).toBeUndefined();
    expect(logLevelProblem(undefined, 'QEXPORT_LOG_LEVEL')).toBeUndefined();
    expect(logLevelProblem('verbose', 'QEXPORT_LOG_LEVEL')).toBe(
      "QEXPORT_LOG_LEVEL must be one of debug, info, warn, error, got 'verbose'",
    );
  });
});

describe('configuration reports every problem at once', () => {
  it('several bad variables → one ConfigError listing each', () => {
    let err: unknown;
    try {
      loadConfig({
        QUALYS_PLATFORM: 'MARS',
        QUALYS_HTTP_TIMEOUT_MS: 'soon',
        QUALYS_CERTVIEW_PAGE_SIZE: '500',
        QEXPORT_LOG_LEVEL: 'verbose',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems).toHaveLength(4);
    expect(problems.join('\n')).toMatch(/QUALYS_PLATFORM 'MARS'/);
    expect(problems.join('\n')).toMatch(/QUALYS_HTTP_TIMEOUT_MS/);
    expect(problems.join('\n')).toMatch(/QUALYS_CERTVIEW_PAGE_SIZE/);
    expect(problems.join('\n')).toMatch(/QEXPORT_LOG_LEVEL must be one of debug, info, warn, error/);
  });

  it('a secret shorter than the minimum is refused naming the variable, never the value', () => {
    let err: unknown;
    try {
      loadCredentials({ QUALYS_CLIENT_ID: 'id', QUALYS_CLIENT_SECRET: 'wrong' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(
      new RegExp(
        `QUALYS_CLIENT_SECRET is 5 characters long; secrets must have at least ${MIN_SECRET_LENGTH}`,
      ),
    );
    expect((err as Error).message).not.toContain("'wrong'");
    expect(() =>
      parseCredentials({ method: 'qualys-basic', username: 'u', password: 'short' }, 'secret S'),
    ).toThrow(/secret S: field 'password' is 5 characters long/);
    expect(
      loadCredentials({ QUALYS_CLIENT_ID: 'id', QUALYS_CLIENT_SECRET: 'x'.repeat(MIN_SECRET_LENGTH) }).method,
    ).toBe('qualys-oidc');
  });

  it('missing credentials and a bad token URL are reported together', () => {
    expect(() =>
      loadCredentials({ QUALYS_AUTH_METHOD: 'idp-password', QUALYS_TOKEN_URL: 'http://idp.example.com' }),
    ).toThrow(
      /QUALYS_CLIENT_ID is required.*QUALYS_USERNAME is required.*QUALYS_PASSWORD is required.*QUALYS_TOKEN_URL must use https/,
    );
  });
});
