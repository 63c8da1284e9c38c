// Lambda entry point of the deploy-time custom resource that sets where the Glue tables' dt projection starts:
// the earliest dt partition already in the bucket, or the deploy date (shared/app/partition-start.ts).
import { S3Client } from '@aws-sdk/client-s3';
import { handlePartitionStart, type CustomResourceEvent } from '../shared/app/partition-start';
import { proxyAwareFetch } from '../shared/app/proxy-fetch';
import { createLogger, parseLogLevel } from '../shared/log';

const s3 = new S3Client({});
const logger = createLogger({ level: parseLogLevel(process.env.QEXPORT_LOG_LEVEL) });
// The answer goes to CloudFormation's pre-signed S3 URL: through the proxy when the stack names one.
const fetch = proxyAwareFetch(process.env);

export const handler = (event: CustomResourceEvent): Promise<void> =>
  handlePartitionStart(event, { s3, fetch, logger });
