import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { ENV, MODULES, type ModuleName } from '../shared/config';
import {
  DIM_FUNCTION,
  DIM_MODULE,
  EXPORT_METRICS,
  METRIC_NAMESPACE,
  TOKEN_METRICS,
  TOKEN_REFRESH_DIMENSION_VALUE,
} from '../shared/metrics-names';
import { scheduleHours, type StackSettings } from './context';
import { addAnalytics } from './analytics';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface QualysExportStackProps extends StackProps {
  settings: StackSettings;
}

/** Everything qualys-export deploys: bucket, secrets, functions, loops, schedules, alarms, Glue tables. */
export class QualysExportStack extends Stack {
  readonly bucket: s3.IBucket;
  readonly credentialsSecret: secretsmanager.Secret;
  readonly tokenSecret: secretsmanager.Secret;
  readonly tokenRefresh: NodejsFunction;
  readonly exporters = {} as Record<ModuleName, NodejsFunction>;
  readonly stateMachines = {} as Record<ModuleName, sfn.StateMachine>;
  readonly alarmTopic: sns.Topic;

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
    this.tokenSecret = new secretsmanager.Secret(this, 'TokenSecret', {
      description: 'qualys-export: the current Qualys JWT, written by the token-refresh function.',
    });

    // ------------------------------------------------------------------ functions
    const qualysEnv: Record<string, string> = {};
    if (s.platform) qualysEnv[ENV.platform] = s.platform;
    if (s.gatewayUrl) qualysEnv[ENV.gatewayUrl] = s.gatewayUrl;
    if (s.pciUrl) qualysEnv[ENV.pciUrl] = s.pciUrl;

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
      return new NodejsFunction(this, name, {
        entry: path.join(ROOT, 'functions', entry),
        handler: 'handler',
        runtime: lambda.Runtime.NODEJS_22_X,
        architecture: lambda.Architecture.ARM_64,
        memorySize: memoryMb,
        timeout,
        logGroup,
        loggingFormat: lambda.LoggingFormat.JSON,
        tracing: lambda.Tracing.ACTIVE,
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
    };

    this.tokenRefresh = fn('TokenRefreshFunction', 'token-refresh.ts', 256, Duration.minutes(1), {
      ...qualysEnv,
      ...s.exporterEnv,
      [ENV.credentialsSecretId]: this.credentialsSecret.secretArn,
      [ENV.tokenSecretId]: this.tokenSecret.secretArn,
    });
    this.credentialsSecret.grantRead(this.tokenRefresh);
    this.tokenSecret.grantRead(this.tokenRefresh);
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
      });
      this.tokenSecret.grantRead(f);
      this.tokenRefresh.grantInvoke(f);
      const stateKey = `${prefix}/_state/${module}.json`;
      f.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'WriteOwnPrefixAndState',
          actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
          resources: [objectArn(`${prefix}/${module}/*`), objectArn(stateKey)],
        }),
      );
      f.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ReadOwnState',
          actions: ['s3:GetObject'],
          resources: [objectArn(stateKey)],
        }),
      );
      // Without ListBucket, S3 answers a missing state object with 403 instead of 404; scoped to that one key.
      f.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'SeeOwnStateMissing',
          actions: ['s3:ListBucket'],
          resources: [this.bucket.bucketArn],
          conditions: { StringEquals: { 's3:prefix': stateKey } },
        }),
      );
      // SSE-KMS for multipart uploads and reading the state object: exactly these two actions.
      if (key) key.grant(f, 'kms:Decrypt', 'kms:GenerateDataKey');
      this.exporters[module] = f;
    }

    // ------------------------------------------------------------------ alarms topic
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'qualys-export alarms',
      enforceSSL: true,
      masterKey: kms.Alias.fromAliasName(this, 'SnsKey', 'alias/aws/sns'),
    });
    if (s.alarmEmail) this.alarmTopic.addSubscription(new subs.EmailSubscription(s.alarmEmail));
    const alarmAction = new cwActions.SnsAction(this.alarmTopic);

    // ------------------------------------------------------------------ loops + schedules
    const schedulerRole = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com'),
      description: 'Lets EventBridge Scheduler start the qualys-export loops and the token refresh',
    });
    const dashboardRows: cloudwatch.IWidget[][] = [];
    for (const module of MODULES) {
      const sm = this.exportLoop(module, this.exporters[module], s.logRetentionDays);
      this.stateMachines[module] = sm;
      const expr = s.schedules[module];
      if (expr !== 'disabled') {
        new scheduler.Schedule(this, `Schedule${pascal(module)}`, {
          description: `Starts the ${module} export`,
          schedule: scheduler.ScheduleExpression.expression(expr),
          target: new targets.StepFunctionsStartExecution(sm, {
            role: schedulerRole,
            input: scheduler.ScheduleTargetInput.fromObject({}),
          }),
        });
      }
      new cloudwatch.Alarm(this, `RunFailed${pascal(module)}`, {
        alarmDescription: `A ${module} export run failed (its checkpoint is kept; start the state machine to resume)`,
        metric: sm.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }).addAlarmAction(alarmAction);
      if (expr !== 'disabled') {
        const hours = Math.min(24, Math.max(1, Math.ceil(scheduleHours(expr))));
        new cloudwatch.Alarm(this, `NoRecentSuccess${pascal(module)}`, {
          alarmDescription: `No successful ${module} export within 2 schedule periods`,
          metric: sm.metricSucceeded({ period: Duration.hours(hours), statistic: 'Sum' }),
          threshold: 1,
          evaluationPeriods: 2,
          comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        }).addAlarmAction(alarmAction);
      }
      const m = (name: string, stat = 'Sum') =>
        new cloudwatch.Metric({
          namespace: METRIC_NAMESPACE,
          metricName: name,
          dimensionsMap: { [DIM_MODULE]: module },
          statistic: stat,
          period: Duration.hours(1),
        });
      dashboardRows.push([
        new cloudwatch.GraphWidget({
          title: `${module}: records and pages`,
          left: [m(EXPORT_METRICS.records), m(EXPORT_METRICS.pages)],
          width: 8,
        }),
        new cloudwatch.GraphWidget({
          title: `${module}: API calls and retries`,
          left: [m(EXPORT_METRICS.apiCalls), m(EXPORT_METRICS.retries)],
          width: 8,
        }),
        new cloudwatch.GraphWidget({
          title: `${module}: runs`,
          left: [sm.metricSucceeded(), sm.metricFailed(), m(EXPORT_METRICS.durationMs, 'Maximum')],
          width: 8,
        }),
      ]);
    }

    if (s.tokenRefreshSchedule !== 'disabled') {
      new scheduler.Schedule(this, 'ScheduleTokenRefresh', {
        description: 'Keeps a valid Qualys token in the token secret',
        schedule: scheduler.ScheduleExpression.expression(s.tokenRefreshSchedule),
        target: new targets.LambdaInvoke(this.tokenRefresh, {
          role: schedulerRole,
          input: scheduler.ScheduleTargetInput.fromObject({}),
        }),
      });
    }
    new cloudwatch.Alarm(this, 'TokenRefreshFailing', {
      alarmDescription: 'The token refresh failed twice in a row: exports will start failing with 401',
      metric: this.tokenRefresh.metricErrors({ period: Duration.minutes(30), statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(alarmAction);
    const tokenMetric = (name: string, stat: string) =>
      new cloudwatch.Metric({
        namespace: METRIC_NAMESPACE,
        metricName: name,
        dimensionsMap: { [DIM_FUNCTION]: TOKEN_REFRESH_DIMENSION_VALUE },
        statistic: stat,
        period: Duration.minutes(30),
      });
    new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${Stack.of(this).stackName}-qualys-export`,
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'token: age (s), refreshes, failures',
            left: [tokenMetric(TOKEN_METRICS.tokenAgeSeconds, 'Maximum')],
            right: [
              tokenMetric(TOKEN_METRICS.refreshes, 'Sum'),
              tokenMetric(TOKEN_METRICS.refreshFailures, 'Sum'),
            ],
            width: 24,
          }),
        ],
        ...dashboardRows,
      ],
    });

    // ------------------------------------------------------------------ analytics
    // Glue database, one table per module (columns from schemas/), the manifests table, complete-runs views.
    const analytics = addAnalytics(this, { bucket: this.bucket, prefix });
    const database = analytics.database;

    new CfnOutput(this, 'BucketName', { value: this.bucket.bucketName });
    new CfnOutput(this, 'CredentialsSecretArn', { value: this.credentialsSecret.secretArn });
    new CfnOutput(this, 'TokenRefreshFunctionName', { value: this.tokenRefresh.functionName });
    new CfnOutput(this, 'GlueDatabaseName', { value: database.ref });
    for (const module of MODULES) {
      new CfnOutput(this, `StateMachine${pascal(module)}`, {
        value: this.stateMachines[module].stateMachineArn,
      });
    }
  }

  /** The Step Functions loop: skip if already running; invoke; while `continue`, invoke with the continuation. */
  private exportLoop(
    module: ModuleName,
    exporter: NodejsFunction,
    logRetentionDays: number,
  ): sfn.StateMachine {
    const id = pascal(module);
    const stateMachineName = `${Stack.of(this).stackName}-${module}`.slice(0, 80);
    const selfArn = Stack.of(this).formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: stateMachineName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const checkRunning = new tasks.CallAwsService(this, `${id}CheckRunning`, {
      service: 'sfn',
      action: 'listExecutions',
      parameters: { StateMachineArn: selfArn, StatusFilter: 'RUNNING' },
      iamResources: [selfArn],
      iamAction: 'states:ListExecutions',
      resultSelector: { 'count.$': 'States.ArrayLength($.Executions)' },
      resultPath: '$.running',
    });
    const alreadyRunning = new sfn.Succeed(this, `${id}AlreadyRunning`, {
      comment: 'Another run of this module is in progress',
    });
    const start = new sfn.Pass(this, `${id}Start`, { parameters: {} });
    const invoke = new tasks.LambdaInvoke(this, `${id}Invoke`, {
      lambdaFunction: exporter,
      // No payload: the whole state ({} on start, {continuation:{runId}} when looping) is the event.
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
    });
    invoke.addRetry({
      errors: [
        'Lambda.ServiceException',
        'Lambda.AWSLambdaException',
        'Lambda.SdkClientException',
        'Lambda.TooManyRequestsException',
        'Lambda.Unknown',
      ],
      interval: Duration.seconds(5),
      maxAttempts: 6,
      backoffRate: 2,
      jitterStrategy: sfn.JitterType.FULL,
    });
    const continuation = new sfn.Pass(this, `${id}Continuation`, {
      parameters: { continuation: { 'runId.$': '$.runId' } },
    });
    continuation.next(invoke);
    // When Qualys asked for a longer wait than the invocation had left (rate limit), wait here, not in Lambda.
    const backOff = new sfn.Wait(this, `${id}WaitForApi`, {
      time: sfn.WaitTime.secondsPath('$.waitSeconds'),
    });
    const needsWait = new sfn.Choice(this, `${id}MustWait?`)
      .when(
        sfn.Condition.and(
          sfn.Condition.isNumeric('$.waitSeconds'),
          sfn.Condition.numberGreaterThan('$.waitSeconds', 0),
        ),
        backOff.next(continuation),
      )
      .otherwise(continuation);
    const done = new sfn.Succeed(this, `${id}Done`);
    const failed = new sfn.Fail(this, `${id}Failed`, { errorPath: '$.error.code', causePath: '$.reason' });
    const next = new sfn.Choice(this, `${id}Continue?`)
      .when(sfn.Condition.stringEquals('$.status', 'continue'), needsWait)
      .when(sfn.Condition.stringEquals('$.status', 'done'), done)
      .otherwise(failed);
    const definition = checkRunning.next(
      new sfn.Choice(this, `${id}AlreadyRunning?`)
        .when(sfn.Condition.numberGreaterThan('$.running.count', 1), alreadyRunning)
        .otherwise(start.next(invoke.next(next))),
    );
    return new sfn.StateMachine(this, `${id}Loop`, {
      stateMachineName,
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      timeout: Duration.hours(23),
      tracingEnabled: true,
      logs: {
        destination: new logs.LogGroup(this, `${id}LoopLogs`, {
          retention: logRetentionDays as logs.RetentionDays,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
        level: sfn.LogLevel.ALL,
        includeExecutionData: false,
      },
    });
  }
}

export function pascal(s: string): string {
  return s.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase());
}
