// The CLI's start-up network errors: what no retry fixes fails at once, naming the URL and the cause; what a
// retry may fix is left to the retries; and the token request and HTTP client pass our verdict on unretried.
import { describe, expect, it, vi } from 'vitest';
import { oneLine } from '../../bin/cli/errors';
import { failFastFetch, targetsOf } from '../../bin/cli/network';
import { obtainToken } from '../../shared/auth/obtain';
import { loadConfig } from '../../shared/config';
import { QexportError } from '../../shared/errors';

/** A fetch failing as undici does: TypeError('fetch failed') with the system error as its cause. */
function failing(code: string) {
  return Object.assign(new TypeError('fetch failed'), {
    cause: Object.assign(new Error(`connect ${code} 127.0.0.1:1`), { code }),
  });
}

const env = { QUALYS_GATEWAY_URL: 'https://gw.example.com', QUALYS_PCI_URL: 'https://pci.example.com' };
const targets = targetsOf(loadConfig(env), env);
const creds = { method: 'qualys-oidc' as const, clientId: 'id', clientSecret: 'a-long-secret' };

describe('failFastFetch', () => {
  it('a refused first connection fails at once: the token request makes one attempt and never sleeps', async () => {
    const base = vi.fn(() => Promise.reject(failing('ECONNREFUSED')));
    const sleep = vi.fn(() => Promise.resolve());
    const f = failFastFetch(base as unknown as typeof fetch, targets);
    const got = obtainToken(creds, loadConfig(env).endpoints, f, { maxRetries: 5, sleep });
    await expect(got).rejects.toThrow(QexportError);
    await expect(got).rejects.toThrow(
      'cannot reach the Qualys gateway at https://gw.example.com/auth/oidc: connection refused (ECONNREFUSED); ' +
        'check QUALYS_GATEWAY_URL and that the service is up',
    );
    expect(base).toHaveBeenCalledTimes(1);
    expect(sleep).not.toHaveBeenCalled();
  });

  it.each([
    ['ENOTFOUND', 'host not found (DNS) (ENOTFOUND); check QUALYS_PCI_URL'],
    [
      'CERT_HAS_EXPIRED',
      'TLS certificate expired (CERT_HAS_EXPIRED); behind a TLS-inspecting proxy, set NODE_EXTRA_CA_CERTS to its CA certificate',
    ],
    [
      'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
      'TLS certificate not trusted (UNABLE_TO_GET_ISSUER_CERT_LOCALLY); behind a TLS-inspecting proxy, set NODE_EXTRA_CA_CERTS to its CA certificate',
    ],
    [
      'ERR_TLS_CERT_ALTNAME_INVALID',
      'TLS certificate does not name this host (ERR_TLS_CERT_ALTNAME_INVALID); check the host name in QUALYS_PCI_URL',
    ],
  ])('%s: named in words, with the variable to check', async (code, says) => {
    const f = failFastFetch(() => Promise.reject(failing(code)), targets);
    await expect(f('https://pci.example.com/pci/scan/list?limit=1&secret=x')).rejects.toThrow(
      `cannot reach PCI Merchant at https://pci.example.com/pci/scan/list: ${says}`,
    );
  });

  it('what a retry may fix (timeouts, resets, temporary DNS) is passed on for the retries', async () => {
    for (const code of ['ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']) {
      const err = failing(code);
      await expect(
        failFastFetch(() => Promise.reject(err), targets)('https://gw.example.com/x'),
      ).rejects.toBe(err);
    }
  });

  it('once an origin has answered, a refused connection there is transient: passed on for the retries', async () => {
    const err = failing('ECONNREFUSED');
    const base = vi.fn<typeof fetch>().mockResolvedValueOnce(new Response('ok')).mockRejectedValueOnce(err);
    const f = failFastFetch(base, targets);
    await f('https://gw.example.com/auth/oidc');
    await expect(f('https://gw.example.com/ioc/events/scroll')).rejects.toBe(err);
  });

  it('a port fetch refuses to use (reserved for another protocol) is named', async () => {
    const err = Object.assign(new TypeError('fetch failed'), { cause: new Error('bad port') });
    await expect(
      failFastFetch(() => Promise.reject(err), [])('http://127.0.0.1:6000/auth/oidc'),
    ).rejects.toThrow(
      'cannot reach http://127.0.0.1:6000/auth/oidc: fetch refuses port 6000 (reserved for another protocol by the Fetch standard); use another port',
    );
  });
});

describe('oneLine names a cause the message leaves out, in words', () => {
  it.each([
    [failing('ECONNRESET'), 'fetch failed (connection reset, ECONNRESET)'],
    [
      new Error('giving up after 6 attempts at https://x/y: fetch failed (UND_ERR_CONNECT_TIMEOUT)', {
        cause: failing('UND_ERR_CONNECT_TIMEOUT'),
      }),
      'giving up after 6 attempts at https://x/y: fetch failed (connection timed out, UND_ERR_CONNECT_TIMEOUT)',
    ],
    [failing('EWHATEVER'), 'fetch failed (EWHATEVER)'],
  ])('%s', (err, line) => {
    expect(oneLine(err)).toBe(line);
  });
});
