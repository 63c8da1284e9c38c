import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { buildStack } from '../../infra/build';
import { ContextError, LOG_RETENTION_DAYS, pascal, readSettings, scheduleSeconds } from '../../infra/context';
import { EXPORTER_SEMI_SPACE_MB, HEAP_WRAPPER } from '../../infra/lambda-runtime';
import { acknowledgedFindings } from '../../infra/nag';
import { ALARM_KINDS, alarmWindow } from '../../infra/observability';
import { usesProxy } from '../../infra/tenant';
import type { QualysExportStack } from '../../infra/stack';
import { MODULES } from '../../shared/config';
import { CLOCK_SKEW_MODULES } from '../../shared/metrics-names';
import { definitionOf } from './asl';
import { expectEveryAcknowledgementMatches, unacknowledged } from './nag-findings';

// Synthesizing (and cdk-nag checking) whole stacks takes tens of seconds on a loaded 2-core machine.
vi.setConfig({ testTimeout: 240_000, hookTimeout: 240_000 });

const ROOT = join(import.meta.dirname, '..', '..');
const cdkJson = JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as {
  context: Record<string, unknown>;
};

/** Synthesises the stack (cdk-nag runs as a validation plugin: synthesis throws on any unacknowledged finding). */
function synth(extra: Record<string, unknown> = {}, opts: { acknowledge?: boolean } = {}) {
  // Skip esbuild bundling here: these tests look at the template, not the code asset.
  const app = new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [], ...extra } });
  const { stack } = buildStack(app, opts);
  return { app, stack, template: Template.fromStack(stack) };
}

let stack: QualysExportStack;
let template: Template;
const lid = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as never);

beforeAll(() => {
  const s = synth();
  stack = s.stack;
  template = s.template;
});

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };
const asArray = <T>(v: T | T[]) => (Array.isArray(v) ? v : [v]);

/** All statements of the policies attached to the role of the given function. */
function statementsOfRole(roleLogicalIdPrefix: string): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((p) =>
      asArray((p.Properties as { Roles: { Ref: string }[] }).Roles).some((r) =>
        r.Ref.startsWith(roleLogicalIdPrefix),
      ),
    )
    .flatMap(
      (p) => (p.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement,
    );
}

describe('resources', () => {
  it('has the bucket (encrypted, no public access), four secrets, eight functions, six loops', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LoggingConfiguration: Match.anyValue(),
    });
    // Gateway credentials, PCI Merchant account, the API server's Qualys user, the token.
    template.resourceCountIs('AWS::SecretsManager::Secret', 4);
    // Token refresh, six exporters, and the deploy-time function that finds where the dt projection starts.
    template.resourceCountIs('AWS::Lambda::Function', 8);
    template.allResourcesProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      LoggingConfig: { LogFormat: 'JSON' },
      TracingConfig: { Mode: 'Active' },
    });
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 6);
    template.allResourcesProperties('AWS::StepFunctions::StateMachine', {
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: false }),
    });
    template.resourceCountIs('AWS::Scheduler::Schedule', 7);
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.resourceCountIs('AWS::SQS::Queue', 1);
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    // Per module: no run completed, freshness, executions failed, busy, completeness, schema drift (6 × 6);
    // clock skew for EDR and Mobile (2); token age, token refresh failing, schedule delivery failed.
    template.resourceCountIs('AWS::CloudWatch::Alarm', 41);
    template.resourceCountIs('AWS::Logs::LogGroup', 14);
  });

  it('uses KMS when asked', () => {
    const t = synth({ kms: true }).template;
    t.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' } }],
      },
    });
    t.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true, Description: 'qualys-export data' });
  });

  it('the bucket policy denies requests without TLS', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('has one Glue table per module over NDJSON with partition projection on dt', () => {
    template.resourceCountIs('AWS::Glue::Database', 1);
    // 6 module tables, the manifests table and 12 views (test/infra/analytics.test.ts looks at them closely).
    template.resourceCountIs('AWS::Glue::Table', 19);
    for (const name of [
      'pci_scans',
      'certview_certificates',
      'edr_events',
      'mobile_assets',
      'vmdr_detections',
      'knowledgebase',
    ]) {
      template.hasResourceProperties('AWS::Glue::Table', {
        TableInput: Match.objectLike({
          Name: name,
          PartitionKeys: [{ Name: 'dt', Type: 'string' }],
          Parameters: Match.objectLike({
            'projection.enabled': 'true',
            'projection.dt.type': 'date',
            'projection.dt.format': 'yyyy-MM-dd',
          }),
          StorageDescriptor: Match.objectLike({
            SerdeInfo: Match.objectLike({ SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe' }),
          }),
        }),
      });
    }
  });

  it('outputs every function, state machine and secret the docs name', () => {
    const outputs = template.findOutputs('*');
    const ref = (o: string) => JSON.stringify(outputs[o]?.Value);
    expect(ref('TokenRefreshFunctionName')).toContain(lid(stack.tokenRefresh));
    expect(ref('CredentialsSecretArn')).toContain(lid(stack.credentialsSecret));
    expect(ref('PciCredentialsSecretArn')).toContain(lid(stack.pciCredentialsSecret));
    expect(ref('TokenSecretArn')).toContain(lid(stack.tokenSecret));
    expect(ref('AlarmTopicArn')).toContain(lid(stack.alarmTopic));
    expect(ref('ScheduleDeadLetterQueueUrl')).toContain(lid(stack.scheduleDlq));
    for (const m of MODULES) {
      expect(ref(`ExportFunction${pascal(m)}`)).toContain(lid(stack.exporters[m]));
      expect(ref(`StateMachine${pascal(m)}`)).toContain(lid(stack.stateMachines[m]));
    }
    // docs/deploy.md names outputs in <angle brackets>: each of them exists.
    const deployDoc = readFileSync(join(ROOT, 'docs', 'deploy.md'), 'utf8');
    const named = [...deployDoc.matchAll(/<([A-Z][A-Za-z]+)>/g)].map((m) => m[1]!);
    expect(named.length).toBeGreaterThan(3);
    for (const n of new Set(named))
      expect(Object.keys(outputs), `output ${n} named in deploy.md`).toContain(n);
  });

  it('has no region- or partition-pinned ARN where an intrinsic works', () => {
    const text = JSON.stringify(template.toJSON());
    expect(text).not.toMatch(/arn:aws(-[a-z]+)?:/);
    expect(text).not.toMatch(
      /\b(us|eu|ap|sa|ca|me|af|il|mx)-(north|south|east|west|central|northeast|southeast|southwest|northwest)-\d\b/,
    );
  });
});

describe('alarms that deliver', () => {
  it('the alarm topic is encrypted with a customer-managed key whose policy lets CloudWatch publish', () => {
    const topic = Object.values(template.findResources('AWS::SNS::Topic'))[0]!;
    const keyRef = (topic.Properties as { KmsMasterKeyId: unknown }).KmsMasterKeyId;
    // Not the AWS-managed alias/aws/sns: a key of this stack.
    expect(keyRef).toEqual({ 'Fn::GetAtt': [expect.any(String), 'Arn'] });
    const keyId = (keyRef as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const key = template.toJSON().Resources[keyId] as {
      Type: string;
      Properties: { EnableKeyRotation: boolean; KeyPolicy: { Statement: Statement[] } };
    };
    expect(key.Type).toBe('AWS::KMS::Key');
    expect(key.Properties.EnableKeyRotation).toBe(true);
    const cw = key.Properties.KeyPolicy.Statement.filter(
      (s) =>
        JSON.stringify((s as { Principal?: unknown }).Principal) === '{"Service":"cloudwatch.amazonaws.com"}',
    );
    expect(cw).toHaveLength(1);
    expect(cw[0]!.Effect).toBe('Allow');
    expect(asArray(cw[0]!.Action).sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey*']);
  });

  it('every alarm notifies the topic and links its runbook section', () => {
    const runbook = readFileSync(join(ROOT, 'docs', 'runbook.md'), 'utf8');
    const anchors = new Set(
      [...runbook.matchAll(/^## (.+)$/gm)].map((m) =>
        m[1]!
          .trim()
          .toLowerCase()
          .replace(/[^a-z0-9 -]/g, '')
          .replace(/ /g, '-'),
      ),
    );
    const topic = lid(stack.alarmTopic);
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    for (const a of alarms) {
      const p = a.Properties as { AlarmActions: unknown[]; AlarmDescription: string; AlarmName: string };
      expect(p.AlarmActions).toEqual([{ Ref: topic }]);
      const link = /Runbook: docs\/runbook\.md#([a-z0-9-]+)$/.exec(p.AlarmDescription);
      expect(link, p.AlarmName).not.toBeNull();
      expect(anchors, p.AlarmName).toContain(link![1]);
    }
    for (const kind of ALARM_KINDS) expect(anchors).toContain(kind.toLowerCase());
  });

  it.each(MODULES)(
    '%s: alarms on runs completed, failures, freshness, busy, completeness, drift',
    (module) => {
      const byName = (suffix: string) => {
        const found = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter((a) =>
          JSON.stringify(a.Properties).includes(`"${stack.stackName}-${pascal(module)}${suffix}"`),
        );
        expect(found, suffix).toHaveLength(1);
        return found[0]!.Properties as Record<string, unknown>;
      };
      const dims = [{ Name: 'Module', Value: module }];
      const every = scheduleSeconds(cdkJson.context[`schedule:${module}`] as string);
      const noRun = byName('NoRunCompleted');
      expect(noRun).toMatchObject({
        MetricName: 'RunsCompleted',
        Namespace: 'QualysExport',
        Dimensions: dims,
        ComparisonOperator: 'LessThanThreshold',
        Threshold: 1,
        TreatMissingData: 'breaching',
      });
      // The whole window is two schedule periods, and every period in it must have no completed run.
      expect((noRun.Period as number) * (noRun.EvaluationPeriods as number)).toBe(2 * every);
      expect(noRun.DatapointsToAlarm).toBe(noRun.EvaluationPeriods);
      expect(byName('Freshness')).toMatchObject({
        MetricName: 'FreshnessSeconds',
        Statistic: 'Maximum',
        Threshold: 3 * every,
        ComparisonOperator: 'GreaterThanThreshold',
      });
      expect(byName('RunsBusy')).toMatchObject({ MetricName: 'RunsBusy', Threshold: 1 });
      expect(byName('CompletenessFailures')).toMatchObject({
        MetricName: 'CompletenessFailures',
        Threshold: 1,
      });
      expect(byName('SchemaDrift')).toMatchObject({
        MetricName: 'SchemaDriftRecords',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
      // Modules whose windows end at now: Qualys's clock and ours further apart than the overlap.
      if ((CLOCK_SKEW_MODULES as readonly string[]).includes(module)) {
        expect(byName('ClockSkew')).toMatchObject({
          MetricName: 'ClockSkewBeyondOverlap',
          Statistic: 'Maximum',
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          Dimensions: dims,
        });
      }
      const failed = JSON.stringify(byName('ExecutionsFailed').Metrics);
      for (const m of ['ExecutionsFailed', 'ExecutionsTimedOut', 'ExecutionsAborted'])
        expect(failed).toContain(`"MetricName":"${m}"`);
      // Busy executions succeed (AlreadyRunning): nothing to subtract, so no period boundary can split the two.
      expect(failed).not.toContain('RunsBusy');
      expect(failed).toContain(lid(stack.stateMachines[module]));
    },
  );

  it('token age, token refresh failures and undelivered schedules have alarms', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map(
      (a) => a.Properties as Record<string, unknown>,
    );
    const named = (n: string) => alarms.find((a) => a.AlarmName === `${stack.stackName}-${n}`)!;
    expect(named('TokenAge')).toMatchObject({
      MetricName: 'TokenAgeSeconds',
      Dimensions: [{ Name: 'Function', Value: 'token-refresh' }],
      Threshold: 240 * 60,
      TreatMissingData: 'breaching',
    });
    const refresh = JSON.stringify(named('TokenRefreshFailing').Metrics);
    expect(refresh).toContain('"MetricName":"TokenRefreshFailures"');
    expect(refresh).toContain('"MetricName":"Errors"');
    expect(JSON.stringify(named('ScheduleDeliveryFailed'))).toContain(lid(stack.scheduleDlq));
  });

  it('alarm windows stay within what CloudWatch accepts for any schedule', () => {
    for (const expr of ['rate(5 minutes)', 'rate(1 hour)', 'rate(6 hours)', 'rate(1 day)', 'rate(7 days)']) {
      for (const n of [1, 2, 10]) {
        const w = alarmWindow(n * scheduleSeconds(expr));
        const total = w.period.toSeconds() * w.evaluationPeriods;
        expect(total).toBeLessThanOrEqual(w.period.toSeconds() < 3600 ? 86_400 : 604_800);
        expect(w.evaluationPeriods).toBeGreaterThanOrEqual(1);
      }
    }
  });
});

describe('least privilege', () => {
  it('only token-refresh can read the credentials secret; only the PCI exporter the PCI secret', () => {
    const policies = template.findResources('AWS::IAM::Policy');
    const readersOf = (secretLid: string) =>
      Object.values(policies)
        .filter((p) => JSON.stringify(p.Properties).includes(`"Ref":"${secretLid}"`))
        .flatMap((p) => (p.Properties as { Roles: { Ref: string }[] }).Roles.map((r) => r.Ref));
    expect(readersOf(lid(stack.credentialsSecret))).toEqual([lid(stack.tokenRefresh.role! as never)]);
    expect(readersOf(lid(stack.pciCredentialsSecret))).toEqual([
      lid(stack.exporters['pci-scans'].role! as never),
    ]);
  });

  it('the PCI secret is named only in the PCI exporter environment', () => {
    const fns = template.findResources('AWS::Lambda::Function');
    for (const [id, f] of Object.entries(fns)) {
      const env = (f.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment
        .Variables;
      if (id === lid(stack.exporters['pci-scans'])) {
        expect(env.QEXPORT_PCI_CREDENTIALS_SECRET_ID).toEqual({ Ref: lid(stack.pciCredentialsSecret) });
      } else {
        expect(env.QEXPORT_PCI_CREDENTIALS_SECRET_ID).toBeUndefined();
      }
    }
  });

  it('secrets are read with GetSecretValue only (no DescribeSecret, which no code calls)', () => {
    const actions = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p) =>
      (p.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement.flatMap((s) =>
        asArray(s.Action),
      ),
    );
    const sm = [...new Set(actions.filter((a) => a.startsWith('secretsmanager:')))].sort();
    expect(sm).toEqual(['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue']);
  });

  it.each(MODULES)('the %s exporter has exactly the S3 access the engine needs', (module) => {
    const fn = stack.exporters[module];
    // The role's own statements (the shared X-Ray policy is checked on its own below).
    const statements = statementsOfRole(lid(fn.role! as never)).filter(
      (s) => !asArray(s.Action).every((a) => a.startsWith('xray:')),
    );
    const s3 = statements.filter((s) => asArray(s.Action).some((a) => a.startsWith('s3:')));
    const bucket = lid(stack.bucket);
    const obj = (key: string) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucket, 'Arn'] }, `/${key}`]] });
    expect(s3).toEqual([
      {
        Sid: 'OwnState',
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:PutObject'],
        Resource: obj(`qualys/_state/${module}.json`),
      },
      {
        // Objects kept beside the state file (EDR's overlap fingerprints), removed once unneeded.
        Sid: 'OwnStateObjects',
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
        Resource: obj(`qualys/_state/${module}/*`),
      },
      {
        Sid: 'OwnData',
        Effect: 'Allow',
        Action: ['s3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
        Resource: obj(`qualys/${module}/*`),
      },
      {
        Sid: 'OwnCatalogueManifests',
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: obj(`qualys/manifests/module=${module}/*`),
      },
      {
        Sid: 'ListOwnKeys',
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: { 'Fn::GetAtt': [bucket, 'Arn'] },
        Condition: {
          StringLike: {
            's3:prefix': [`qualys/${module}/*`, `qualys/_state/${module}.json`, `qualys/_state/${module}/*`],
          },
        },
      },
    ]);
    const text = JSON.stringify(statements);
    expect(text).not.toContain(lid(stack.credentialsSecret));
    const invoke = statements.filter((s) => asArray(s.Action).includes('lambda:InvokeFunction'));
    if (module === 'pci-scans') {
      // PCI Merchant authenticates with its own account: no gateway token, no token refresh.
      expect(text).toContain(lid(stack.pciCredentialsSecret));
      expect(text).not.toContain(lid(stack.tokenSecret));
      expect(invoke).toEqual([]);
      const env = (
        template.findResources('AWS::Lambda::Function')[lid(fn)]!.Properties as {
          Environment: { Variables: Record<string, unknown> };
        }
      ).Environment.Variables;
      expect(Object.keys(env)).not.toContain('QEXPORT_TOKEN_SECRET_ID');
      expect(Object.keys(env)).not.toContain('QEXPORT_TOKEN_REFRESH_FUNCTION');
    } else if (module === 'vmdr-detections' || module === 'knowledgebase') {
      // The API server takes the Qualys user over Basic (QUALYS_VM_AUTH_METHOD=basic, the default): its own
      // secret, no gateway token, no token refresh.
      expect(text).toContain(lid(stack.vmCredentialsSecret));
      expect(text).not.toContain(lid(stack.tokenSecret));
      expect(text).not.toContain(lid(stack.pciCredentialsSecret));
      expect(invoke).toEqual([]);
    } else {
      expect(text).toContain(lid(stack.tokenSecret));
      expect(text).not.toContain(lid(stack.pciCredentialsSecret));
      expect(text).not.toContain(lid(stack.vmCredentialsSecret));
      expect(invoke).toEqual([
        {
          Effect: 'Allow',
          Action: 'lambda:InvokeFunction',
          Resource: { 'Fn::GetAtt': [lid(stack.tokenRefresh), 'Arn'] },
        },
      ]);
    }
    // No wildcard resource on any statement of the role's own policy.
    for (const s of statements) expect(asArray(s.Resource)).not.toContain('*');
  });

  it("'*' resources appear only in the X-Ray and log-delivery policies, which hold only those actions", () => {
    const policies = template.findResources('AWS::IAM::Policy');
    const starPolicies = Object.entries(policies).filter(([, p]) =>
      (p.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement.some((s) =>
        asArray(s.Resource).includes('*'),
      ),
    );
    expect(starPolicies.map(([id]) => id).sort()).toEqual(
      [lid(stack.xrayPolicy as never), lid(stack.logDeliveryPolicy as never)].sort(),
    );
    for (const [, p] of starPolicies) {
      for (const s of (p.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument
        .Statement)
        for (const a of asArray(s.Action))
          expect(a).toMatch(/^(xray:(Put|GetSampling)|logs:.*(LogDeliver|ResourcePolic|DescribeLogGroups))/);
    }
  });
});

describe('loops and schedules', () => {
  it.each(MODULES)(
    'a schedule starts the %s state machine, with retries and a dead-letter queue',
    (module) => {
      const sm = lid(stack.stateMachines[module]);
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        Target: Match.objectLike({
          Arn: { Ref: sm },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [lid(stack.scheduleDlq), 'Arn'] } },
          RetryPolicy: { MaximumRetryAttempts: 5, MaximumEventAgeInSeconds: 3600 },
        }),
      });
    },
  );

  it('the schedule dead-letter queue is encrypted and TLS-only', () => {
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('token refresh is scheduled every 30 minutes against the token-refresh function', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(30 minutes)',
      Target: Match.objectLike({
        Arn: { 'Fn::GetAtt': [lid(stack.tokenRefresh), 'Arn'] },
        DeadLetterConfig: Match.anyValue(),
        RetryPolicy: Match.anyValue(),
      }),
    });
  });

  it('a disabled schedule is not created', () => {
    synth({ 'schedule:edr-events': 'disabled' }).template.resourceCountIs('AWS::Scheduler::Schedule', 6);
  });

  it('no loop asks Step Functions whether it is already running (the S3 lease decides)', () => {
    const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    expect(policies).not.toContain('states:ListExecutions');
    for (const m of MODULES) {
      const d = definitionOf(template, lid(stack.stateMachines[m]));
      const invokes = Object.entries(d.States).filter(([, st]) => st.Type === 'Task');
      expect(invokes.map(([n]) => n)).toEqual(['Invoke']);
      // Every path into Invoke builds the event from the execution id: owner plus runId or continuation only.
      const into = Object.values(d.States).filter((st) => st.Next === 'Invoke');
      const params = into.map((st) => st.Parameters);
      expect(params).toHaveLength(4);
      expect(params).toEqual(
        expect.arrayContaining([
          { 'owner.$': '$$.Execution.Id' },
          { 'owner.$': '$$.Execution.Id', 'backfill.$': '$.backfill' },
          { 'owner.$': '$$.Execution.Id', 'runId.$': '$.runId' },
          { 'owner.$': '$$.Execution.Id', continuation: { 'runId.$': '$.runId' } },
        ]),
      );
      expect(JSON.stringify(d.States.Invoke!.Retry)).toContain('Lambda.TooManyRequestsException');
      expect(d.States.BusyResult).toMatchObject({
        Type: 'Pass',
        Parameters: { status: 'busy', module: m },
        Next: 'AlreadyRunning',
      });
      expect(d.States.AlreadyRunning).toEqual({ Type: 'Succeed' });
      expect(d.States.Failed).toMatchObject({
        Type: 'Fail',
        ErrorPath: '$.error.code',
        CausePath: '$.reason',
      });
    }
  });
});

describe('cdk-nag', () => {
  it('AwsSolutions reports no unacknowledged errors or warnings (default and other settings)', () => {
    expect(() => synth()).not.toThrow();
    expect(() => synth({ kms: true, versioned: true, retentionDays: 365 })).not.toThrow();
    expect(() =>
      synth({ bucketName: 'an-existing-bucket', 'schedule:token-refresh': 'disabled' }),
    ).not.toThrow();
  });

  it('the check is live: without the written acknowledgments synthesis fails', () => {
    expect(() => synth({}, { acknowledge: false })).toThrow(/AwsSolutions-SMG4/);
  });

  it('every acknowledgement matches a finding on the construct it was written for', () => {
    const { stack: s, findings } = unacknowledged(cdkJson.context);
    expect(findings.length).toBeGreaterThan(10);
    expectEveryAcknowledgementMatches(s, findings);
    // ... and nothing is acknowledged on the stack as a whole.
    expect(acknowledgedFindings(s).every((a) => a.construct !== s)).toBe(true);
  });

  it.each([
    [
      'an exporter role',
      (s: QualysExportStack) => s.exporters['edr-events'].role!,
      /ExportEdrEventsFunction/,
    ],
    ['a loop role', (s: QualysExportStack) => s.stateMachines['pci-scans'].role, /PciScansLoop\/Role/],
    ['the token-refresh role', (s: QualysExportStack) => s.tokenRefresh.role!, /TokenRefreshFunction/],
  ])("a stray '*' grant added to %s is reported", (_name, roleOf, where) => {
    const app = new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } });
    const { stack: s } = buildStack(app);
    roleOf(s).addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:GetObject'], resources: ['*'] }));
    let message = '';
    try {
      Template.fromStack(s);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/AwsSolutions-IAM5\[Resource::\*\]/);
    const finding = message.split('\n\n').find((b) => b.includes("IAM5[Resource::*]'"))!;
    expect(finding).toMatch(where);
  });
});

describe('context', () => {
  it.each([
    [{ 'schedule:pci-scans': 'every day' }, /schedule:pci-scans/],
    [{ platform: 'MARS1' }, /platform/],
    [{ kms: 'yes' }, /kms/],
    [{ retentionDays: -1 }, /retentionDays/],
    [{ exporterEnv: { AWS_SECRET: 'x' } }, /QUALYS_/],
    [
      { exporterEnv: { HTTPS_PROXY: 'http://user:pw@proxy.corp:3128' } },
      /HTTPS_PROXY.*user or password.*readable/,
    ],
    [{ exporterEnv: { HTTPS_PROXY: 'not a url' } }, /HTTPS_PROXY/],
    [{ logRetentionDays: 45 }, /'logRetentionDays'.*1, 3, 5, 7, 14, 30, 60, 90.*3653.*got '45'/],
    [{ logRetentionDays: 0 }, /logRetentionDays/],
    [{ alarmNoRunPeriods: 0 }, /alarmNoRunPeriods/],
  ])('bad context %j names the key', (ctx, pattern) => {
    const all: Record<string, unknown> = { ...cdkJson.context, ...ctx };
    expect(() => readSettings((k) => all[k])).toThrow(ContextError);
    expect(() => readSettings((k) => all[k])).toThrow(pattern);
  });

  it.each(LOG_RETENTION_DAYS)('logRetentionDays %d is accepted and applied', (days) => {
    const all: Record<string, unknown> = { ...cdkJson.context, logRetentionDays: String(days) };
    expect(readSettings((k) => all[k]).logRetentionDays).toBe(days);
  });

  it('a corporate proxy reaches every function, which then ship undici beside the bundle', () => {
    const proxy = { HTTPS_PROXY: 'http://proxy.corp.example:3128', NO_PROXY: '169.254.169.254' };
    const { template } = synth({ exporterEnv: proxy });
    const fns = template.findResources('AWS::Lambda::Function');
    const ours = Object.values(fns).filter((f) =>
      String((f as { Properties: { Handler?: string } }).Properties.Handler).startsWith('index.'),
    );
    expect(ours.length).toBeGreaterThanOrEqual(5);
    for (const f of ours) {
      expect(
        (f as { Properties: { Environment: { Variables: Record<string, string> } } }).Properties.Environment
          .Variables,
      ).toMatchObject(proxy);
    }
    expect(usesProxy(proxy)).toBe(true);
    expect(usesProxy({ NO_PROXY: 'x' })).toBe(false);
    expect(usesProxy({})).toBe(false);
  });

  it('every log group gets the configured retention', () => {
    synth({ logRetentionDays: 14 }).template.allResourcesProperties('AWS::Logs::LogGroup', {
      RetentionInDays: 14,
    });
  });
});

describe('how Lambda starts the exporters', () => {
  type Fn = { Properties: { Handler?: string; Environment?: { Variables: Record<string, string> } } };
  const variables = (t: Template) =>
    Object.entries(t.findResources('AWS::Lambda::Function') as Record<string, Fn>)
      .filter(([, f]) => String(f.Properties.Handler).startsWith('index.'))
      .map(([id, f]) => [id, f.Properties.Environment?.Variables ?? {}] as const);

  it('exporters start node through the heap wrapper; the token refresh keeps the runtime as it is', () => {
    const fns = variables(template);
    const exporters = fns.filter(([id]) => id.startsWith('Export'));
    expect(exporters).toHaveLength(MODULES.length);
    for (const [, env] of exporters) {
      expect(env).toMatchObject({
        AWS_LAMBDA_EXEC_WRAPPER: `/var/task/${HEAP_WRAPPER}`,
        QEXPORT_SEMI_SPACE_MB: String(EXPORTER_SEMI_SPACE_MB),
      });
    }
    for (const [, env] of fns.filter(([id]) => !id.startsWith('Export'))) {
      expect(env).not.toHaveProperty('AWS_LAMBDA_EXEC_WRAPPER');
    }
  });

  it('the bundled exporter asset holds the wrapper, executable, beside index.mjs', () => {
    // Bundles for real (esbuild), one module, to look inside the code asset Lambda receives.
    const outdir = mkdtempSync(join(tmpdir(), 'qexport-synth-'));
    try {
      const app = new App({ outdir, context: { ...cdkJson.context, modules: ['mobile-assets'] } });
      buildStack(app);
      app.synth();
      const assets = readdirSync(outdir).filter((d) => d.startsWith('asset.'));
      const code = assets.filter((d) => existsSync(join(outdir, d, 'index.mjs')));
      const withWrapper = code.filter((d) => existsSync(join(outdir, d, HEAP_WRAPPER)));
      // Three functions (token refresh, mobile exporter, partition start): only the exporter has the wrapper.
      expect([code.length, withWrapper.length]).toEqual([3, 1]);
      const wrapper = join(outdir, withWrapper[0]!, HEAP_WRAPPER);
      expect(statSync(wrapper).mode & 0o777).toBe(0o755);
      expect(readFileSync(wrapper, 'utf8')).toBe(readFileSync(join(ROOT, 'functions', HEAP_WRAPPER), 'utf8'));
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  }, 120_000);
});
