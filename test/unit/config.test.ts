import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  loadConfig,
  loadCredentials,
  parseCredentials,
  PLATFORMS,
  describeConfig,
} from '../../shared/config';
import { ConfigError } from '../../shared/errors';

const base = { QUALYS_PLATFORM: 'US2' };

describe('loadConfig', () => {
  it('derives URLs from the platform, with defaults', () => {
    const c = loadConfig(base);
    expect(c.endpoints.gatewayUrl).toBe('https://gateway.qg2.apps.qualys.com');
    expect(c.endpoints.pciUrl).toBe('https://pci-api.qualys.com');
    expect(c.http).toEqual({ timeoutMs: 60_000, maxRetries: 5, concurrency: 2 });
    expect(c.modules.certview.apiVersion).toBe('v2');
    expect(c.output.prefix).toBe('qualys');
    expect(describeConfig(c)).toContain('gateway=https://gateway.qg2.apps.qualys.com');
    expect(c.modules.certview.assetType).toBe('ALL');
    expect(c.modules.edr.timeField).toBe('event.datetime');
  });

  it('module options: CertView version by pattern, asset type, EDR time field', () => {
    for (const v of ['v1', 'v2', 'v2.1', 'V2.2', 'v3']) {
      expect(loadConfig({ ...base, QUALYS_CERTVIEW_API_VERSION: v }).modules.certview.apiVersion).toBe(
        v.toLowerCase(),
      );
    }
    expect(loadConfig({ ...base, QUALYS_CERTVIEW_ASSET_TYPE: 'managed' }).modules.certview.assetType).toBe(
      'MANAGED',
    );
    for (const [v, want] of [
      ['event.eventProcessedTime', 'event.eventProcessedTime'],
      ['eventProcessedTime', 'event.eventProcessedTime'],
      ['dateTime', 'event.datetime'],
      ['EVENT.DATETIME', 'event.datetime'],
    ]) {
      expect(loadConfig({ ...base, QUALYS_EDR_TIME_FIELD: v }).modules.edr.timeField).toBe(want);
    }
  });

  it.each(Object.keys(PLATFORMS))('knows platform %s', (p) => {
    expect(loadConfig({ QUALYS_PLATFORM: p.toLowerCase() }).endpoints.gatewayUrl).toMatch(
      /^https:\/\/gateway\./,
    );
  });

  it('explicit URLs override the platform and lose trailing slashes', () => {
    const c = loadConfig({
      ...base,
      QUALYS_GATEWAY_URL: 'https://gw.example.com/',
      QUALYS_PCI_URL: 'http://127.0.0.1:8443/',
    });
    expect(c.endpoints.gatewayUrl).toBe('https://gw.example.com');
    expect(c.endpoints.pciUrl).toBe('http://127.0.0.1:8443');
  });

  it.each([
    [{}, /QUALYS_PLATFORM.*QUALYS_GATEWAY_URL/],
    [{ QUALYS_PLATFORM: 'MARS' }, /QUALYS_PLATFORM 'MARS'/],
    [{ QUALYS_GATEWAY_URL: 'not a url' }, /QUALYS_GATEWAY_URL is not a valid URL/],
    [{ QUALYS_GATEWAY_URL: 'http://gw.example.com' }, /QUALYS_GATEWAY_URL must use https/],
    [{ ...base, QUALYS_PCI_URL: 'https://u:p@x.com' }, /QUALYS_PCI_URL must not contain credentials/],
    [{ ...base, QUALYS_HTTP_TIMEOUT_MS: 'soon' }, /QUALYS_HTTP_TIMEOUT_MS must be a whole number/],
    [{ ...base, QUALYS_CERTVIEW_PAGE_SIZE: '500' }, /QUALYS_CERTVIEW_PAGE_SIZE must be between 1 and 200/],
    [
      { ...base, QUALYS_CERTVIEW_API_VERSION: 'latest' },
      /QUALYS_CERTVIEW_API_VERSION must be a CertView API version/,
    ],
    [{ ...base, QUALYS_CERTVIEW_API_VERSION: 'v2/../v1' }, /QUALYS_CERTVIEW_API_VERSION/],
    [
      { ...base, QUALYS_CERTVIEW_ASSET_TYPE: 'all assets' },
      /QUALYS_CERTVIEW_ASSET_TYPE must be an asset type/,
    ],
    [{ ...base, QUALYS_EDR_TIME_FIELD: 'event.updated' }, /QUALYS_EDR_TIME_FIELD must be event.datetime or/],
    [
      { ...base, QUALYS_EDR_FILTER: "event.eventProcessedTime:['a'..'b']" },
      /QUALYS_EDR_FILTER must not contain event.datetime or event.eventProcessedTime/,
    ],
    [{ ...base, QUALYS_CERTVIEW_FILTER: '{broken' }, /QUALYS_CERTVIEW_FILTER .* not a JSON object/],
    [
      { ...base, QUALYS_EDR_FILTER: "event.datetime:['a'..'b']" },
      /QUALYS_EDR_FILTER must not contain event.datetime/,
    ],
    [
      { ...base, QUALYS_MOBILE_DETECTION_UPDATED_SINCE: 'yesterday' },
      /QUALYS_MOBILE_DETECTION_UPDATED_SINCE/,
    ],
    [{ ...base, QEXPORT_PREFIX: 'a b' }, /QEXPORT_PREFIX/],
  ])('%j → a ConfigError naming the variable', (env, pattern) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(pattern);
  });

  it('arbitrary environments only ever produce a config or a ConfigError', () => {
    const keys = [
      'QUALYS_PLATFORM',
      'QUALYS_GATEWAY_URL',
      'QUALYS_PCI_URL',
      'QUALYS_HTTP_TIMEOUT_MS',
      'QUALYS_CONCURRENCY',
      'QUALYS_CERTVIEW_FILTER',
      'QUALYS_CERTVIEW_API_VERSION',
      'QUALYS_CERTVIEW_ASSET_TYPE',
      'QUALYS_EDR_TIME_FIELD',
      'QUALYS_EDR_OVERLAP_MINUTES',
      'QEXPORT_PREFIX',
      'QEXPORT_PART_MAX_BYTES',
    ];
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.constantFrom(...keys),
          fc.oneof(
            fc.string(),
            fc.constantFrom('US1', 'https://x.example.com', '0', '999999999999', '{}', 'v1'),
          ),
        ),
        (env) => {
          try {
            loadConfig(env);
          } catch (err) {
            expect(err).toBeInstanceOf(ConfigError);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('credentials', () => {
  it.each([
    [
      { QUALYS_AUTH_METHOD: 'qualys-oidc', QUALYS_CLIENT_ID: 'id' },
      /QUALYS_CLIENT_SECRET is required for auth method qualys-oidc/,
    ],
    [{ QUALYS_AUTH_METHOD: 'qualys-basic', QUALYS_USERNAME: 'u' }, /QUALYS_PASSWORD/],
    [
      {
        QUALYS_AUTH_METHOD: 'idp-password',
        QUALYS_CLIENT_ID: 'c',
        QUALYS_USERNAME: 'u',
        QUALYS_PASSWORD: 'p',
      },
      /QUALYS_TOKEN_URL/,
    ],
    [{ QUALYS_AUTH_METHOD: 'kerberos' }, /QUALYS_AUTH_METHOD must be one of/],
  ])('%j is refused naming the variable', (env, pattern) => {
    expect(() => loadCredentials(env)).toThrow(pattern);
  });

  it('parses the credentials secret and never echoes its values', () => {
    const secret = 'sUp3r-s3cret-value';
    expect(
      parseCredentials(
        JSON.stringify({ method: 'qualys-oidc', clientId: 'a', clientSecret: secret }),
        'credentials secret X',
      ),
    ).toEqual({
      method: 'qualys-oidc',
      clientId: 'a',
      clientSecret: secret,
      username: undefined,
      password: undefined,
      tokenUrl: undefined,
      scope: undefined,
    });
    const bad = () =>
      parseCredentials(
        JSON.stringify({ method: 'idp-client-credentials', clientId: 'a', clientSecret: secret }),
        'credentials secret X',
      );
    expect(bad).toThrow(/credentials secret X: field 'tokenUrl' is required/);
    try {
      bad();
    } catch (err) {
      expect((err as Error).message).not.toContain(secret);
    }
    expect(() => parseCredentials('{not json', 'S')).toThrow(/S is not valid JSON/);
    expect(() => parseCredentials({ method: 'qualys-oidc', clientId: 5 }, 'S')).toThrow(
      /field 'clientId' must be a string/,
    );
  });
});
