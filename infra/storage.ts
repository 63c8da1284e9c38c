import { Aws, Duration, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { MODULES } from '../shared/config';
import { ContextError, tenantPrefix, type StackSettings } from './context';

/** The actions S3 needs on a bucket's KMS key for SSE-KMS: data keys for writes, Decrypt for reads and multipart. */
export const S3_KMS_ACTIONS = ['kms:Decrypt', 'kms:GenerateDataKey'];

/**
 * Use of the bucket's key, through S3 only (kms:ViaService): S3 asks KMS for a data key on PutObject (and each
 * multipart upload) and to decrypt one on GetObject and when it completes a multipart upload. Nothing else —
 * not Encrypt, ReEncrypt or GenerateDataKeyWithoutPlaintext, which S3 never calls for SSE-KMS. The region is the
 * key's (an SSE-KMS bucket uses a key of its own region).
 */
export function s3KeyStatement(keyArn: string, actions: string[] = S3_KMS_ACTIONS): iam.PolicyStatement {
  const region = Token.isUnresolved(keyArn) ? Aws.REGION : keyArn.split(':')[3]!;
  return new iam.PolicyStatement({
    sid: 'BucketKeyThroughS3',
    actions,
    resources: [keyArn],
    conditions: { StringEquals: { 'kms:ViaService': `s3.${region}.${Aws.URL_SUFFIX}` } },
  });
}

/** Where Athena query results of the stack's workgroup go (a leading `_` keeps it apart from modules and tenants). */
export const ATHENA_RESULTS = '_athena-results';
/** Query results are kept this many days (they are copies of what the tables already hold). */
export const ATHENA_RESULTS_DAYS = 30;
/** S3 accepts at most this many lifecycle rules on a bucket. */
const MAX_LIFECYCLE_RULES = 1000;

/**
 * The key prefixes that hold exported data, one per module and tenant: `<prefix>/<module>/` and, with tenants,
 * `<prefix>/<tenant>/<module>/` (plus the single-tenant layout, which a stack that moved to tenants still holds).
 * Every module of the product is listed, deployed or not, so the rules follow the module declarations.
 */
export function dataPrefixes(s: StackSettings): string[] {
  const roots = [s.prefix, ...(s.multiTenant ? s.tenants.map((t) => tenantPrefix(s.prefix, t)) : [])];
  return roots.flatMap((root) => MODULES.map((m) => `${root}/${m}/`));
}

/**
 * The export bucket's lifecycle. Retention (`retentionDays`) expires the data of each module by its prefix —
 * parts and the run manifests beside them — and nothing else: the checkpoints (`_state/`) and the catalogue
 * manifests (`manifests/`) are outside every expiring prefix, so an idle module keeps its checkpoint and the
 * record of its last complete runs. With versioning, replaced versions (the state file is rewritten every
 * minute during a run) expire `noncurrentVersionDays` after they were replaced, and the delete markers left
 * behind are removed.
 */
export function lifecycleRules(s: StackSettings): s3.LifecycleRule[] {
  const rules: s3.LifecycleRule[] = [
    { abortIncompleteMultipartUploadAfter: Duration.days(7) },
    {
      id: 'ExpireAthenaResults',
      prefix: `${s.prefix}/${ATHENA_RESULTS}/`,
      expiration: Duration.days(ATHENA_RESULTS_DAYS),
    },
  ];
  if (s.retentionDays > 0) {
    for (const prefix of dataPrefixes(s)) {
      rules.push({
        id: `ExpireData-${prefix.replace(/\/$/, '').replace(/[^A-Za-z0-9._-]/g, '-')}`,
        prefix,
        expiration: Duration.days(s.retentionDays),
      });
    }
  }
  if (s.versioned) {
    rules.push({
      id: 'ExpireReplacedVersions',
      prefix: `${s.prefix}/`,
      noncurrentVersionExpiration: Duration.days(s.noncurrentVersionDays),
      expiredObjectDeleteMarker: true,
    });
  }
  if (rules.length > MAX_LIFECYCLE_RULES) {
    throw new ContextError(
      `context 'retentionDays' needs ${rules.length} lifecycle rules (one per module and tenant), more than S3 allows on a bucket (${MAX_LIFECYCLE_RULES}): ` +
        'split the tenants over two stacks, or set retentionDays to 0 and expire the data with rules of your own',
    );
  }
  return rules;
}
