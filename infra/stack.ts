import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { ENV, MODULES, type ModuleName } from '../shared/config';
import { addAnalytics } from './analytics';
import type { StackSettings } from './context';
import { exportLoop } from './loop';
import { alarmTopic, observability } from './observability';

/** Environment variable of the PCI exporter naming the PCI Merchant credentials secret. */
export const PCI_CREDENTIALS_SECRET_ENV = 'QEXPORT_PCI_CREDENTIALS_SECRET_ID';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface QualysExportStackProps extends StackProps {
  settings: StackSettings;
}

/** Everything qualys-export deploys: bucket, secrets, functions, loops, schedules, alarms, Glue tables. */
export class QualysExportStack extends Stack {
  readonly bucket: s3.IBucket;
  readonly credentialsSecret: secretsmanager.Secret;
  readonly pciCredentialsSecret: secretsmanager.Secret;
  readonly tokenSecret: secretsmanager.Secret;
  readonly tokenRefresh: NodejsFunction;
  readonly exporters = {} as Record<ModuleName, NodejsFunction>;
  readonly stateMachines = {} as Record<ModuleName, sfn.StateMachine>;
  readonly alarmTopic: sns.Topic;
  readonly alarms: cloudwatch.Alarm[];
  readonly scheduleDlq: sqs.Queue;
  readonly xrayPolicy: iam.Policy;
  readonly logDeliveryPolicy: iam.Policy;

  constructor(scope: Construct, id: string, props: QualysExportStackProps) {
    super(scope, id, props);
    const s = props.settings;
    const prefix = s.prefix;

    // ------------------------------------------------------------------ storage
    const key = s.kms
      ? new kms.Key(this, 'DataKey', { enableKeyRotation: true, description: 'qualys-export data' })
      : undefined;
    if (s.existingBucketName) {
      this.bucket = s3.Bucket.fromBucketName(this, 'Bucket', s.existingBucketName);
    } else {
      const accessLogs = new s3.Bucket(this, 'AccessLogs', {
        encryption: s3.BucketEncryption.S3_MANAGED,
        enforceSSL: true,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
        lifecycleRules: [{ expiration: Duration.days(365) }],
        removalPolicy: RemovalPolicy.RETAIN,
      });
      this.bucket = new s3.Bucket(this, 'Bucket', {
        encryption: key ? s3.BucketEncryption.KMS : s3.BucketEncryption.S3_MANAGED,
        encryptionKey: key,
        bucketKeyEnabled: Boolean(key),
        enforceSSL: true,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        versioned: s.versioned,
        serverAccessLogsBucket: accessLogs,
        serverAccessLogsPrefix: 'bucket/',
        removalPolicy: RemovalPolicy.RETAIN,
        lifecycleRules: [
          { abortIncompleteMultipartUploadAfter: Duration.days(7) },
          ...(s.retentionDays > 0
            ? [{ prefix: `${prefix}/`, expiration: Duration.days(s.retentionDays) }]
            : []),
        ],
      });
    }

    // ------------------------------------------------------------------ secrets
    this.credentialsSecret = new secretsmanager.Secret(this, 'CredentialsSecret', {
      description:
        'qualys-export: Qualys credentials (JSON, see docs/credentials.md). Read only by token-refresh.',
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ method: 'qualys-oidc', clientId: 'REPLACE_ME' }),
        generateStringKey: 'clientSecret',
      },
    });
    this.pciCredentialsSecret = new secretsmanager.Secret(this, 'PciCredentialsSecret', {
      description:
        'qualys-export: PCI Merchant account credentials (JSON, see docs/credentials.md). Read only by the pci-scans exporter.',
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ method: 'basic', username: 'REPLACE_ME' }),
        generateStringKey: 'password',
      },
    });
    this.tokenSecret = new secretsmanager.Secret(this, 'TokenSecret', {
      description: 'qualys-export: the current Qualys JWT, written by the token-refresh function.',
    });
    // Exactly the call the code makes (grantRead would add DescribeSecret, which nothing calls).
    const readSecret = (secret: secretsmanager.ISecret, fn: lambda.IFunction) =>
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['secretsmanager:GetSecretValue'],
          resources: [secret.secretArn],
        }),
      );

    // ------------------------------------------------------------------ functions
    const qualysEnv: Record<string, string> = {};
    if (s.platform) qualysEnv[ENV.platform] = s.platform;
    if (s.gatewayUrl) qualysEnv[ENV.gatewayUrl] = s.gatewayUrl;
    if (s.pciUrl) qualysEnv[ENV.pciUrl] = s.pciUrl;

    // X-Ray offers its write actions on Resource '*' only. They live in this one policy (attached to every
    // function and loop role), not in the roles' default policies, so the cdk-nag acknowledgement for '*'
    // names this policy alone and a '*' grant added to any role is still reported.
    this.xrayPolicy = new iam.Policy(this, 'XRayWritePolicy', {
      statements: [
        new iam.PolicyStatement({
          actions: [
            'xray:PutTraceSegments',
            'xray:PutTelemetryRecords',
            'xray:GetSamplingRules',
            'xray:GetSamplingTargets',
          ],
          resources: ['*'],
        }),
      ],
    });
    // Step Functions log delivery to CloudWatch Logs: also '*'-only actions (vended logs).
    this.logDeliveryPolicy = new iam.Policy(this, 'LogDeliveryPolicy', {
      statements: [
        new iam.PolicyStatement({
          actions: [
            'logs:CreateLogDelivery',
            'logs:GetLogDelivery',
            'logs:UpdateLogDelivery',
            'logs:DeleteLogDelivery',
            'logs:ListLogDeliveries',
            'logs:PutResourcePolicy',
            'logs:DescribeResourcePolicies',
            'logs:DescribeLogGroups',
          ],
          resources: ['*'],
        }),
      ],
    });

    const fn = (
      name: string,
      entry: string,
      memoryMb: number,
      timeout: Duration,
      env: Record<string, string>,
    ) => {
      const logGroup = new logs.LogGroup(this, `${name}Logs`, {
        retention: s.logRetentionDays as logs.RetentionDays,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const f = new NodejsFunction(this, name, {
        entry: path.join(ROOT, 'functions', entry),
        handler: 'handler',
        runtime: lambda.Runtime.NODEJS_22_X,
        architecture: lambda.Architecture.ARM_64,
        memorySize: memoryMb,
        timeout,
        logGroup,
        loggingFormat: lambda.LoggingFormat.JSON,
        environment: { NODE_OPTIONS: '--enable-source-maps', ...env },
        projectRoot: ROOT,
        depsLockFilePath: path.join(ROOT, 'package-lock.json'),
        bundling: {
          format: OutputFormat.ESM,
          target: 'node22',
          platform: 'node',
          minify: true,
          sourceMap: true,
          mainFields: ['module', 'main'],
          // The AWS SDK is bundled, not taken from the runtime, so its version is the one we test.
          externalModules: [],
          banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
        },
      });
      // Active tracing set on the resource; its permissions come from the X-Ray policy above.
      (f.node.defaultChild as lambda.CfnFunction).tracingConfig = { mode: 'Active' };
      this.xrayPolicy.attachToRole(f.role!);
      return f;
    };

    this.tokenRefresh = fn('TokenRefreshFunction', 'token-refresh.ts', 256, Duration.minutes(1), {
      ...qualysEnv,
      ...s.exporterEnv,
      [ENV.credentialsSecretId]: this.credentialsSecret.secretArn,
      [ENV.tokenSecretId]: this.tokenSecret.secretArn,
    });
    readSecret(this.credentialsSecret, this.tokenRefresh);
    readSecret(this.tokenSecret, this.tokenRefresh);
    this.tokenRefresh.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:PutSecretValue'],
        resources: [this.tokenSecret.secretArn],
      }),
    );

    const objectArn = (k: string) => this.bucket.arnForObjects(k);
    for (const module of MODULES) {
      const f = fn(`Export${pascal(module)}Function`, `export-${module}.ts`, 1024, Duration.minutes(15), {
        ...qualysEnv,
        ...s.exporterEnv,
        [ENV.bucket]: this.bucket.bucketName,
        [ENV.prefix]: prefix,
        [ENV.tokenSecretId]: this.tokenSecret.secretArn,
        [ENV.tokenRefreshFunction]: this.tokenRefresh.functionName,
        ...(module === 'pci-scans'
          ? { [PCI_CREDENTIALS_SECRET_ENV]: this.pciCredentialsSecret.secretArn }
          : {}),
      });
      readSecret(this.tokenSecret, f);
      if (module === 'pci-scans') readSecret(this.pciCredentialsSecret, f);
      // The exporter invokes token-refresh by its unqualified name: exactly that ARN, no versions or aliases.
      f.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['lambda:InvokeFunction'],
          resources: [this.tokenRefresh.functionArn],
        }),
      );
      for (const st of exporterS3Statements(this.bucket.bucketArn, objectArn, prefix, module)) {
        f.addToRolePolicy(st);
      }
      // SSE-KMS for multipart uploads and reading the state object: exactly these two actions.
      if (key) key.grant(f, 'kms:Decrypt', 'kms:GenerateDataKey');
      this.exporters[module] = f;
    }

    // ------------------------------------------------------------------ loops + schedules
    this.scheduleDlq = new sqs.Queue(this, 'ScheduleDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const schedulerRole = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com'),
      description: 'Lets EventBridge Scheduler start the qualys-export loops and the token refresh',
    });
    const targetOptions = {
      role: schedulerRole,
      input: scheduler.ScheduleTargetInput.fromObject({}),
      deadLetterQueue: this.scheduleDlq,
      retryAttempts: 5,
      maxEventAge: Duration.hours(1),
    };
    for (const module of MODULES) {
      const sm = exportLoop(this, pascal(module), {
        module,
        exporter: this.exporters[module],
        logRetentionDays: s.logRetentionDays,
        xrayPolicy: this.xrayPolicy,
        logDeliveryPolicy: this.logDeliveryPolicy,
      });
      this.stateMachines[module] = sm;
      const expr = s.schedules[module];
      if (expr !== 'disabled') {
        new scheduler.Schedule(this, `Schedule${pascal(module)}`, {
          description: `Starts the ${module} export`,
          schedule: scheduler.ScheduleExpression.expression(expr),
          target: new targets.StepFunctionsStartExecution(sm, targetOptions),
        });
      }
    }
    if (s.tokenRefreshSchedule !== 'disabled') {
      new scheduler.Schedule(this, 'ScheduleTokenRefresh', {
        description: 'Keeps a valid Qualys token in the token secret',
        schedule: scheduler.ScheduleExpression.expression(s.tokenRefreshSchedule),
        target: new targets.LambdaInvoke(this.tokenRefresh, targetOptions),
      });
    }

    // ------------------------------------------------------------------ alarms
    this.alarmTopic = alarmTopic(this, s.alarmEmail);
    this.alarms = observability(this, {
      settings: s,
      topic: this.alarmTopic,
      stateMachines: this.stateMachines,
      tokenRefresh: this.tokenRefresh,
      scheduleDlq: this.scheduleDlq,
    });

    // ------------------------------------------------------------------ analytics
    // Glue database, one table per module (columns from schemas/), the manifests table, complete-runs views.
    const analytics = addAnalytics(this, { bucket: this.bucket, prefix });
    const database = analytics.database;

    new CfnOutput(this, 'BucketName', { value: this.bucket.bucketName });
    new CfnOutput(this, 'CredentialsSecretArn', { value: this.credentialsSecret.secretArn });
    new CfnOutput(this, 'PciCredentialsSecretArn', { value: this.pciCredentialsSecret.secretArn });
    new CfnOutput(this, 'TokenSecretArn', { value: this.tokenSecret.secretArn });
    new CfnOutput(this, 'TokenRefreshFunctionName', { value: this.tokenRefresh.functionName });
    new CfnOutput(this, 'GlueDatabaseName', { value: database.ref });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topicArn });
    new CfnOutput(this, 'ScheduleDeadLetterQueueUrl', { value: this.scheduleDlq.queueUrl });
    for (const module of MODULES) {
      new CfnOutput(this, `ExportFunction${pascal(module)}`, {
        value: this.exporters[module].functionName,
      });
      new CfnOutput(this, `StateMachine${pascal(module)}`, {
        value: this.stateMachines[module].stateMachineArn,
      });
    }
  }
}

/**
 * What an exporter may do in S3, exactly: its state file (read, conditional write), its own data prefix (parts,
 * manifests, stale-part removal, aborted multipart uploads), its own catalogue manifests, and listing only
 * under those keys.
 */
export function exporterS3Statements(
  bucketArn: string,
  objectArn: (key: string) => string,
  prefix: string,
  module: ModuleName,
): iam.PolicyStatement[] {
  const stateKey = `${prefix}/_state/${module}.json`;
  return [
    new iam.PolicyStatement({
      sid: 'OwnState',
      actions: ['s3:GetObject', 's3:PutObject'],
      resources: [objectArn(stateKey)],
    }),
    new iam.PolicyStatement({
      sid: 'OwnData',
      actions: ['s3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
      resources: [objectArn(`${prefix}/${module}/*`)],
    }),
    new iam.PolicyStatement({
      sid: 'OwnCatalogueManifests',
      actions: ['s3:PutObject'],
      resources: [objectArn(`${prefix}/manifests/module=${module}/*`)],
    }),
    // Listing its run directories (stale parts), and its state key: without ListBucket S3 answers a missing
    // state object with 403 instead of 404.
    new iam.PolicyStatement({
      sid: 'ListOwnKeys',
      actions: ['s3:ListBucket'],
      resources: [bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${prefix}/${module}/*`, stateKey] } },
    }),
  ];
}

export function pascal(s: string): string {
  return s.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase());
}
