import { CustomResource, Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { MODULES } from '../shared/config';
import type { PartitionStartProperties } from '../shared/app/partition-start';
import type { StackSettings } from './context';
import { productFunction, type FunctionKit } from './functions';

export interface PartitionStart {
  /** YYYY-MM-DD: the context value, or the custom resource's deploy-time answer (a token). */
  date: string;
  /** The deploy-time function, when there is one (no `partitionStartDate` in context). */
  fn?: NodejsFunction;
}

/**
 * Where the tables' `dt` projection starts. `partitionStartDate` in context is used as written. Without it, a
 * custom resource answers at deploy with the earliest `dt=` already under the tables' locations, or the deploy date
 * when there is none: never later than a partition that exists, never moved by synthesizing on another day, and
 * for a stack upgraded from a release that projected from 2020-01-01, the first date it actually holds. It runs
 * when its inputs (bucket, prefix, modules, tenants) change, not on every deploy: the start it found stays valid,
 * since the data written after it is newer.
 */
export function partitionStart(
  scope: Construct,
  s: StackSettings,
  bucket: s3.IBucket,
  kit: FunctionKit,
): PartitionStart {
  if (s.partitionStartDate) return { date: s.partitionStartDate };
  const fn = productFunction(scope, kit, {
    id: 'PartitionStartFunction',
    entry: 'partition-start.ts',
    memoryMb: 256,
    timeout: Duration.minutes(2),
    env: s.proxyEnv,
  });
  // Listing only under the exports' prefix (the dt= partitions of each table's location).
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'ListPartitions',
      actions: ['s3:ListBucket'],
      resources: [bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${s.prefix}/*`] } },
    }),
  );
  const properties: PartitionStartProperties = {
    Bucket: bucket.bucketName,
    Prefix: s.prefix,
    Modules: [...MODULES],
    ...(s.multiTenant ? { Tenants: s.tenants.map((t) => t.id!) } : {}),
  };
  const cr = new CustomResource(scope, 'PartitionStart', {
    serviceToken: fn.functionArn,
    resourceType: 'Custom::QexportPartitionStart',
    properties,
  });
  return { date: cr.getAttString('StartDate'), fn };
}
