/**
 * The CloudFormation custom resource behind the Glue tables' `dt` projection start (infra/analytics.ts): at deploy
 * it finds the earliest `dt=YYYY-MM-DD/` partition already under the tables' locations, or today when there is
 * none. The start therefore never hides a partition that exists, whatever date the stack was synthesized on, and
 * a stack deployed over older data (an upgrade, or a kept bucket) keeps every date it holds.
 */
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { ConfigError } from '../errors';
import { silentLogger, type Logger } from '../log';

export interface PartitionStartProperties {
  Bucket: string;
  Prefix: string;
  Modules: string[];
  /** With tenants: the roots are `<Prefix>/<tenant>/…` instead of `<Prefix>/…`. */
  Tenants?: string[];
}

export interface CustomResourceEvent {
  RequestType: 'Create' | 'Update' | 'Delete';
  ResponseURL: string;
  StackId: string;
  RequestId: string;
  LogicalResourceId: string;
  PhysicalResourceId?: string;
  ResourceProperties: unknown;
}

export interface PartitionStartDeps {
  s3: S3Client;
  fetch: typeof fetch;
  now?: () => Date;
  logger?: Logger;
}

/** The resource's physical id: one per stack, the same across updates (nothing is replaced or deleted). */
export const PHYSICAL_ID = 'qexport-partition-start';

const DT = /(?:^|\/)dt=(\d{4}-\d{2}-\d{2})\/$/;
const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string' && x.length > 0);

/** The resource properties, checked (they come from the template, but are a boundary all the same). */
export function parseProperties(raw: unknown): PartitionStartProperties {
  const p = (raw ?? {}) as Record<string, unknown>;
  const bad = (what: string) => new ConfigError(`partition-start resource: ${what}`);
  if (typeof p.Bucket !== 'string' || !p.Bucket) throw bad('Bucket must be a bucket name');
  if (typeof p.Prefix !== 'string' || !p.Prefix) throw bad('Prefix must be the key prefix of the exports');
  if (!strings(p.Modules) || (p.Modules as string[]).length === 0) throw bad('Modules must list the modules');
  if (p.Tenants !== undefined && !strings(p.Tenants)) throw bad('Tenants must be a list of tenant ids');
  return {
    Bucket: p.Bucket,
    Prefix: p.Prefix,
    Modules: p.Modules as string[],
    ...(p.Tenants ? { Tenants: p.Tenants as string[] } : {}),
  };
}

/** The `dt=` parents the Glue tables read: each module's data, and each module's catalogue manifests. */
export function partitionRoots(p: PartitionStartProperties): string[] {
  const bases = p.Tenants ? p.Tenants.map((t) => `${p.Prefix}/${t}`) : [p.Prefix];
  return bases.flatMap((b) => p.Modules.flatMap((m) => [`${b}/${m}/`, `${b}/manifests/module=${m}/`]));
}

/** The smallest `dt=` under `root` (S3 lists common prefixes in ascending order: the first one found is it). */
async function earliestUnder(s3: S3Client, bucket: string, root: string): Promise<string | undefined> {
  let token: string | undefined;
  do {
    const res = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: root, Delimiter: '/', ContinuationToken: token }),
    );
    for (const cp of res.CommonPrefixes ?? []) {
      const m = DT.exec(cp.Prefix ?? '');
      if (m) return m[1];
    }
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
  return undefined;
}

/** The earliest partition date under any root, or undefined when there is none. A few listings at a time. */
export async function earliestPartition(
  s3: S3Client,
  bucket: string,
  roots: readonly string[],
): Promise<string | undefined> {
  let earliest: string | undefined;
  const queue = [...roots];
  const worker = async () => {
    for (let root = queue.shift(); root !== undefined; root = queue.shift()) {
      const d = await earliestUnder(s3, bucket, root);
      if (d && (!earliest || d < earliest)) earliest = d;
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, roots.length) }, worker));
  return earliest;
}

/** The projection start: the earliest existing partition, and never later than today (UTC). */
export async function partitionStart(
  s3: S3Client,
  props: PartitionStartProperties,
  today: Date,
): Promise<string> {
  const day = today.toISOString().slice(0, 10);
  const earliest = await earliestPartition(s3, props.Bucket, partitionRoots(props));
  return earliest && earliest < day ? earliest : day;
}

/** Sends the custom resource's answer to CloudFormation (the pre-signed S3 URL of the event), with retries. */
async function respond(
  event: CustomResourceEvent,
  deps: PartitionStartDeps,
  answer: { Status: 'SUCCESS' | 'FAILED'; Reason?: string; Data?: Record<string, string> },
): Promise<void> {
  const body = JSON.stringify({
    ...answer,
    Reason: answer.Reason?.slice(0, 1000),
    PhysicalResourceId: event.PhysicalResourceId ?? PHYSICAL_ID,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
  });
  let last: unknown;
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      // The pre-signed URL signs no content type: send none.
      const res = await deps.fetch(event.ResponseURL, {
        method: 'PUT',
        body,
        headers: { 'content-type': '' },
      });
      if (res.ok) return;
      last = new Error(`HTTP ${res.status}`);
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
  }
  throw new Error(
    `could not send the custom resource response to CloudFormation: ${(last as Error).message}`,
  );
}

/** The whole handler: Create and Update compute the start; Delete has nothing to remove. */
export async function handlePartitionStart(
  event: CustomResourceEvent,
  deps: PartitionStartDeps,
): Promise<void> {
  const logger = deps.logger ?? silentLogger;
  if (event.RequestType === 'Delete') return respond(event, deps, { Status: 'SUCCESS' });
  try {
    const props = parseProperties(event.ResourceProperties);
    const start = await partitionStart(deps.s3, props, (deps.now ?? (() => new Date()))());
    logger.info('partition projection start', { start, roots: partitionRoots(props).length });
    await respond(event, deps, { Status: 'SUCCESS', Data: { StartDate: start } });
  } catch (err) {
    const reason = `finding the earliest dt partition failed: ${(err as Error).name}: ${(err as Error).message}`;
    logger.error('partition projection start failed', { error: reason });
    await respond(event, deps, { Status: 'FAILED', Reason: reason });
  }
}
