// Entry-point wiring shared by the export functions: the only place their AWS clients are constructed.
// Clients are created once per execution environment (cold start) and reused across invocations.
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import { handleExport } from '../shared/app/lambda-export';
import { metricsWriter } from '../shared/app/metrics';
import { proxyAwareFetch } from '../shared/app/proxy-fetch';
import type { ModuleName } from '../shared/config';
import type { RunResult } from '../shared/export/types';
import { createLogger, parseLogLevel } from '../shared/log';

export function exportHandler(module: ModuleName): (event: unknown, context: Context) => Promise<RunResult> {
  const s3 = new S3Client({});
  const secrets = new SecretsManagerClient({});
  const lambda = new LambdaClient({});
  const logger = createLogger({ level: parseLogLevel(process.env.QEXPORT_LOG_LEVEL) });
  // A listed tenant's functions add its id to every metric (the Tenant dimension its alarms select).
  const writeMetrics = metricsWriter(process.env);
  // Qualys calls honour HTTPS_PROXY / HTTP_PROXY / NO_PROXY (a VPC behind an egress proxy).
  const fetch = proxyAwareFetch(process.env);
  return (event, context) =>
    handleExport(module, event, context, {
      env: process.env,
      s3,
      secrets,
      lambda,
      fetch,
      logger,
      writeMetrics,
    });
}
