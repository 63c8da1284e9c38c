import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  hasGatewayCredentials,
  hasPciCredentials,
  loadConfig,
  loadCredentials,
  loadPciCredentials,
  parseCredentials,
  parsePciCredentials,
  PLATFORMS,
  describeConfig,
  DEFAULT_GZIP_LEVEL,
} from '../../shared/config';
import { ConfigError } from '../../shared/errors';

const base = { QUALYS_PLATFORM: 'US2' };

describe('loadConfig', () => {
  it('derives URLs from the platform, with defaults', () => {
    const c = loadConfig(base);
    expect(c.endpoints.gatewayUrl).toBe('https://gateway.qg2.apps.qualys.com');
    expect(c.endpoints.pciUrl).toBe('https://pci-api.qualys.com');
    expect(c.http).toEqual({
      timeoutMs: 60_000,
      maxRetries: 5,
      concurrency: 2,
      rateReserve: 10,
      rateLimitFallbackSeconds: 3601,
      maxResponseBytes: 256 * 1024 * 1024,
      maxDecodedBytes: 256 * 1024 * 1024,
      maxWaitSeconds: 2 * 86_400,
    });
    expect(c.modules.certview.apiVersion).toBe('v2');
    expect(c.output.prefix).toBe('qualys');
    expect(c.output.gzipLevel).toBe(DEFAULT_GZIP_LEVEL);
    expect(loadConfig({ ...base, QEXPORT_GZIP_LEVEL: '1' }).output.gzipLevel).toBe(1);
    expect(loadConfig({ ...base, QEXPORT_GZIP_LEVEL: ' 9 ' }).output.gzipLevel).toBe(9);
    expect(describeConfig(c)).toContain('gateway=https://gateway.qg2.apps.qualys.com');
    expect(c.modules.certview.assetType).toBe('ALL');
    expect(c.modules.edr.timeField).toBe('event.datetime');
  });

  it('Mobile: a snapshot every run by default; incremental on request, with its overlap and snapshot period', () => {
    expect(loadConfig(base).modules.mobile).toEqual({
      mode: 'snapshot',
      truncationLimit: 1000,
      detectionUpdatedSince: undefined,
      includeFields: undefined,
      overlapMinutes: 60,
      snapshotEveryHours: 168,
      indexingLagSeconds: 60,
    });
    const m = loadConfig({
      ...base,
      QUALYS_MOBILE_MODE: 'Incremental',
      QUALYS_MOBILE_OVERLAP_MINUTES: '0',
      QUALYS_MOBILE_SNAPSHOT_EVERY_HOURS: '0',
      QUALYS_MOBILE_DETECTION_UPDATED_SINCE: '2026-01-01T00:00:00Z',
    }).modules.mobile;
    expect(m).toMatchObject({
      mode: 'incremental',
      overlapMinutes: 0,
      snapshotEveryHours: 0,
      detectionUpdatedSince: '2026-01-01T00:00:00Z',
    });
    expect(describeConfig(loadConfig({ ...base, QUALYS_MOBILE_MODE: 'incremental' }))).toContain(
      'mobileMode=incremental',
    );
    // Every bad Mobile variable is reported at once, each by name.
    let message = '';
    try {
      loadConfig({
        ...base,
        QUALYS_MOBILE_MODE: 'full',
        QUALYS_MOBILE_OVERLAP_MINUTES: 'an hour',
        QUALYS_MOBILE_SNAPSHOT_EVERY_HOURS: '-1',
        QUALYS_MOBILE_DETECTION_UPDATED_SINCE: '2026-01-01',
      });
    } catch (err) {
      message = (err as Error).message;
    }
    for (const name of [
      'QUALYS_MOBILE_MODE',
      'QUALYS_MOBILE_OVERLAP_MINUTES',
      'QUALYS_MOBILE_SNAPSHOT_EVERY_HOURS',
      'QUALYS_MOBILE_DETECTION_UPDATED_SINCE',
    ]) {
      expect(message).toContain(name);
    }
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
    // Both spellings of the processing-time field (and the record's name) are read; the documented one is sent.
    for (const [v, want] of [
      ['event.eventprocesstime', 'event.eventprocesstime'],
      ['event.eventProcessedTime', 'event.eventprocesstime'],
      ['eventProcessedTime', 'event.eventprocesstime'],
      ['EVENT.EVENTPROCESSTIME', 'event.eventprocesstime'],
      ['dateTime', 'event.datetime'],
      ['EVENT.DATETIME', 'event.datetime'],
    ]) {
      expect(loadConfig({ ...base, QUALYS_EDR_TIME_FIELD: v }).modules.edr.timeField).toBe(want);
    }
    // state: false by default (Qualys's add-on), true, or omit; the indexing lag: 60 s unless set.
    expect(loadConfig(base).modules.edr).toMatchObject({ state: 'false', indexingLagSeconds: 60 });
    expect(
      loadConfig({ ...base, QUALYS_EDR_STATE: 'TRUE', QUALYS_EDR_INDEXING_LAG_SECONDS: '30' }).modules.edr,
    ).toMatchObject({ state: 'true', indexingLagSeconds: 30 });
    expect(loadConfig({ ...base, QUALYS_EDR_STATE: 'omit' }).modules.edr.state).toBe('omit');
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
      /QUALYS_EDR_FILTER must not contain event.datetime or event.eventprocesstime/,
    ],
    [
      { ...base, QUALYS_EDR_FILTER: "type:FILE and event.EVENTPROCESSTIME:['a'..'b']" },
      /QUALYS_EDR_FILTER must not contain .*QUALYS_EDR_TIME_FIELD picks the field/,
    ],
    [{ ...base, QUALYS_EDR_STATE: 'active' }, /QUALYS_EDR_STATE must be false .*, true .* or omit/],
    [{ ...base, QUALYS_EDR_INDEXING_LAG_SECONDS: '-5' }, /QUALYS_EDR_INDEXING_LAG_SECONDS/],
    [{ ...base, QUALYS_MOBILE_INDEXING_LAG_SECONDS: '7200' }, /QUALYS_MOBILE_INDEXING_LAG_SECONDS/],
    [{ ...base, QUALYS_CERTVIEW_FILTER: '{broken' }, /QUALYS_CERTVIEW_FILTER .* not a JSON object/],
    [
      { ...base, QUALYS_EDR_FILTER: "event.datetime:['a'..'b']" },
      /QUALYS_EDR_FILTER must not contain event.datetime/,
    ],
    [
      { ...base, QUALYS_MOBILE_DETECTION_UPDATED_SINCE: 'yesterday' },
      /QUALYS_MOBILE_DETECTION_UPDATED_SINCE/,
    ],
    [
      { ...base, QUALYS_MOBILE_MODE: 'delta' },
      /QUALYS_MOBILE_MODE must be snapshot or incremental, got 'delta'/,
    ],
    [
      { ...base, QUALYS_MOBILE_OVERLAP_MINUTES: '-5' },
      /QUALYS_MOBILE_OVERLAP_MINUTES must be a whole number/,
    ],
    [
      { ...base, QUALYS_MOBILE_OVERLAP_MINUTES: '20000' },
      /QUALYS_MOBILE_OVERLAP_MINUTES must be between 0 and 10080/,
    ],
    [
      { ...base, QUALYS_MOBILE_SNAPSHOT_EVERY_HOURS: '1.5' },
      /QUALYS_MOBILE_SNAPSHOT_EVERY_HOURS must be a whole number/,
    ],
    [{ ...base, QEXPORT_PREFIX: 'a b' }, /QEXPORT_PREFIX/],
    [{ ...base, QEXPORT_GZIP_LEVEL: '0' }, /QEXPORT_GZIP_LEVEL must be between 1 and 9, got 0/],
    [{ ...base, QEXPORT_GZIP_LEVEL: '10' }, /QEXPORT_GZIP_LEVEL must be between 1 and 9/],
    [{ ...base, QEXPORT_GZIP_LEVEL: 'best' }, /QEXPORT_GZIP_LEVEL must be a whole number/],
    [{ ...base, QUALYS_RATE_RESERVE: '-1' }, /QUALYS_RATE_RESERVE must be a whole number/],
    [
      { ...base, QUALYS_RATE_LIMIT_FALLBACK_SECONDS: '0' },
      /QUALYS_RATE_LIMIT_FALLBACK_SECONDS must be between/,
    ],
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
      'QUALYS_EDR_STATE',
      'QUALYS_EDR_INDEXING_LAG_SECONDS',
      'QUALYS_EDR_OVERLAP_MINUTES',
      'QEXPORT_PREFIX',
      'QEXPORT_PART_MAX_BYTES',
      'QEXPORT_GZIP_LEVEL',
      'QUALYS_RATE_RESERVE',
      'QUALYS_RATE_LIMIT_FALLBACK_SECONDS',
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

describe('PCI Merchant credentials (separate from the gateway)', () => {
  it('a PCI-only run needs no platform or gateway URL; gateway modules still do', () => {
    const c = loadConfig({ QUALYS_PCI_URL: 'https://pci.example.com' }, { modules: ['pci-scans'] });
    expect(c.endpoints.gatewayUrl).toBeUndefined();
    expect(c.endpoints.pciUrl).toBe('https://pci.example.com');
    expect(describeConfig(c)).toContain('gateway=(none)');
    expect(() => loadConfig({}, { modules: ['pci-scans', 'mobile-assets'] })).toThrow(/QUALYS_PLATFORM/);
    expect(() => loadConfig({})).toThrow(/QUALYS_PLATFORM/);
  });

  it('defaults to basic and names the missing variable', () => {
    // Passwords shorter than MIN_SECRET_LENGTH are refused (they cannot be redacted safely).
    expect(
      loadPciCredentials({ QUALYS_PCI_USERNAME: 'u', QUALYS_PCI_PASSWORD: 'pci-password-1' }),
    ).toMatchObject({
      method: 'basic',
      username: 'u',
      password: 'pci-password-1',
    });
    expect(() => loadPciCredentials({ QUALYS_PCI_USERNAME: 'u' })).toThrow(
      /QUALYS_PCI_PASSWORD is required for PCI auth method basic/,
    );
    expect(() =>
      loadPciCredentials({ QUALYS_PCI_AUTH_METHOD: 'idp-client-credentials', QUALYS_PCI_CLIENT_ID: 'c' }),
    ).toThrow(/QUALYS_PCI_TOKEN_URL is required/);
    expect(() => loadPciCredentials({ QUALYS_PCI_AUTH_METHOD: 'oidc' })).toThrow(
      /QUALYS_PCI_AUTH_METHOD must be one of basic, idp-password, idp-client-credentials/,
    );
    expect(() =>
      loadPciCredentials({
        QUALYS_PCI_AUTH_METHOD: 'idp-client-credentials',
        QUALYS_PCI_CLIENT_ID: 'c',
        QUALYS_PCI_CLIENT_SECRET: 's',
        QUALYS_PCI_TOKEN_URL: 'http://idp.example.com/token',
      }),
    ).toThrow(/QUALYS_PCI_TOKEN_URL must use https/);
  });

  it('parses the PCI secret and never echoes its values', () => {
    const secret = 'pci-Sup3r-s3cret';
    expect(
      parsePciCredentials(
        JSON.stringify({ method: 'basic', username: 'merchant', password: secret }),
        'PCI secret X',
      ),
    ).toMatchObject({ method: 'basic', username: 'merchant', password: secret });
    const bad = () => parsePciCredentials({ method: 'idp-password', password: secret }, 'PCI secret X');
    expect(bad).toThrow(/PCI secret X: field 'tokenUrl' is required for PCI auth method idp-password/);
    expect(() => bad()).not.toThrow(new RegExp(secret));
    expect(() => parsePciCredentials('[]', 'S')).toThrow(/S must be a JSON object/);
    expect(() => parsePciCredentials({ method: 'basic', username: 1 }, 'S')).toThrow(
      /field 'username' must be a string/,
    );
  });

  it('tells which credentials are configured', () => {
    expect(hasGatewayCredentials({ QUALYS_CLIENT_ID: 'x' })).toBe(true);
    expect(hasGatewayCredentials({ QUALYS_PCI_USERNAME: 'x' })).toBe(false);
    expect(hasPciCredentials({ QUALYS_PCI_USERNAME: 'x' })).toBe(true);
    expect(hasPciCredentials({ QUALYS_CLIENT_ID: 'x', QUALYS_PCI_USERNAME: ' ' })).toBe(false);
  });

  it('qualys-oauth (subscription-level client) needs a client id and secret', () => {
    expect(() => loadCredentials({ QUALYS_AUTH_METHOD: 'qualys-oauth', QUALYS_CLIENT_ID: 'c' })).toThrow(
      /QUALYS_CLIENT_SECRET is required for auth method qualys-oauth/,
    );
  });
});
