import { prefixProblem } from '../../shared/config';
import { ConfigError } from '../../shared/errors';

/** Where `--out` points: a local directory, or a bucket and a key prefix in it. */
export type OutLocation = { kind: 'dir'; path: string } | { kind: 's3'; bucket: string; prefix: string };

const EXPECTED = 'expected a directory or s3://bucket[/prefix]';

/**
 * The problem with an S3 bucket name under the general purpose bucket naming rules, or undefined: 3-63
 * characters; lowercase letters, digits, '.' and '-'; starting and ending with a letter or digit; no '..'; not an
 * IP address; none of the prefixes and suffixes S3 reserves.
 */
export function bucketProblem(bucket: string): string | undefined {
  if (bucket.length < 3 || bucket.length > 63) return `is ${bucket.length} characters long (3-63 allowed)`;
  if (/[A-Z]/.test(bucket)) return 'has uppercase letters (bucket names are lowercase)';
  if (!/^[a-z0-9.-]+$/.test(bucket)) return "may contain only lowercase letters, digits, '.' and '-'";
  if (!/^[a-z0-9]/.test(bucket) || !/[a-z0-9]$/.test(bucket))
    return 'must start and end with a letter or digit';
  if (bucket.includes('..')) return "must not contain '..'";
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(bucket)) return 'must not look like an IP address';
  const prefix = ['xn--', 'sthree-', 'amzn-s3-demo-'].find((p) => bucket.startsWith(p));
  if (prefix) return `must not start with '${prefix}' (reserved by S3)`;
  const suffix = ['-s3alias', '--ol-s3', '.mrap', '--table-s3'].find((s) => bucket.endsWith(s));
  if (suffix) return `must not end with '${suffix}' (reserved by S3)`;
  return undefined;
}

/** `s3://bucket/prefix` for what a misspelt or other-form S3 location most likely meant, if it is obvious. */
function meantS3(value: string): string | undefined {
  const v = value.trim();
  // S3://b/x, s3:/b/x, s3:b/x, s3:///b/x
  let m = /^s3:\/{0,3}([^/].*)$/i.exec(v);
  if (m) return `s3://${m[1]}`;
  // arn:aws:s3:::bucket[/key]
  m = /^arn:aws[\w-]*:s3:::([^/]+)(\/.*)?$/i.exec(v);
  if (m) return `s3://${m[1]}${m[2] ?? ''}`;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined;
  const path = decodeURIComponent(u.pathname).replace(/\/+$/, '');
  // Virtual-hosted style: https://bucket.s3[.-region].amazonaws.com/key
  m = /^(.+)\.s3(?:[.-][a-z0-9-]+)?(?:\.dualstack\.[a-z0-9-]+)?\.amazonaws\.com(?:\.cn)?$/.exec(u.hostname);
  if (m) return `s3://${m[1]}${path}`;
  // Path style: https://s3[.-region].amazonaws.com/bucket/key
  if (/^s3(?:[.-][a-z0-9-]+)?(?:\.dualstack\.[a-z0-9-]+)?\.amazonaws\.com(?:\.cn)?$/.test(u.hostname)) {
    const p = path.replace(/^\/+/, '');
    return p ? `s3://${p}` : undefined;
  }
  return undefined;
}

/**
 * `--out` (or another flag naming an output location): a directory, or `s3://bucket[/prefix]` with a valid bucket
 * name and prefix. Anything else that looks like a URL, an ARN, another scheme or nothing is refused with a
 * ConfigError naming the flag, the form expected and, where it is obvious, the fix.
 */
export function parseOut(value: string, flag = '--out'): OutLocation {
  if (value.trim() === '') throw new ConfigError(`${flag} is empty: ${EXPECTED}`);
  if (value.startsWith('s3://')) {
    const rest = value.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const prefix = (slash < 0 ? '' : rest.slice(slash + 1)).replace(/^\/+|\/+$/g, '');
    if (bucket === '') throw new ConfigError(`${flag} '${value}' names no bucket: ${EXPECTED}`);
    if (/[?#]/.test(rest)) throw new ConfigError(`${flag} '${value}' has a query or fragment: ${EXPECTED}`);
    const bad = bucketProblem(bucket);
    if (bad) {
      const lower = bucket.toLowerCase();
      const hint =
        lower !== bucket && !bucketProblem(lower)
          ? `; did you mean s3://${lower}${slash < 0 ? '' : rest.slice(slash)}?`
          : '';
      throw new ConfigError(`${flag}: bucket name '${bucket}' ${bad}${hint}`);
    }
    const p = prefixProblem(prefix);
    if (p) throw new ConfigError(`${flag}: the prefix '${prefix}' in '${value}' ${p}`);
    return { kind: 's3', bucket, prefix };
  }
  const meant = meantS3(value);
  if (meant !== undefined) {
    throw new ConfigError(
      `${flag} '${value}' is not an S3 location qexport reads: ${EXPECTED}; did you mean ${meant}?`,
    );
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(value);
  // A drive letter (C:\exports, C:/exports) is a directory.
  if (scheme && !/^[A-Za-z]:[\\/]/.test(value)) {
    if (scheme[1]!.toLowerCase() === 'file') {
      let path: string | undefined;
      try {
        path = decodeURIComponent(new URL(value).pathname);
      } catch {
        // not a valid file URL: no suggestion
      }
      throw new ConfigError(
        `${flag} '${value}' is a URL: ${EXPECTED}` + (path ? `; did you mean ${path}?` : ''),
      );
    }
    throw new ConfigError(
      `${flag} '${value}' looks like a URL or ARN ('${scheme[1]}:'): ${EXPECTED}` +
        (value.includes('//') ? '' : ` (for a directory whose name contains ':', write ./${value})`),
    );
  }
  return { kind: 'dir', path: value };
}
