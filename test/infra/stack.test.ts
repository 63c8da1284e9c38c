import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildStack } from '../../infra/build';
import { ContextError, readSettings } from '../../infra/context';
import type { QualysExportStack } from '../../infra/stack';
import { MODULES } from '../../shared/config';

const cdkJson = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'cdk.json'), 'utf8')) as {
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
  it('has the bucket (encrypted, no public access), two secrets, five functions, four loops', () => {
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
    template.resourceCountIs('AWS::SecretsManager::Secret', 2);
    template.resourceCountIs('AWS::Lambda::Function', 5);
    template.allResourcesProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      LoggingConfig: { LogFormat: 'JSON' },
    });
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 4);
    template.resourceCountIs('AWS::Scheduler::Schedule', 5);
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 9);
    template.resourceCountIs('AWS::Logs::LogGroup', 9);
  });

  it('uses KMS when asked', () => {
    const t = synth({ kms: true }).template;
    t.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' } }],
      },
    });
    t.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
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
    // 4 module tables, the manifests table and 7 views (test/infra/analytics.test.ts looks at them closely).
    template.resourceCountIs('AWS::Glue::Table', 12);
    for (const name of ['pci_scans', 'certview_certificates', 'edr_events', 'mobile_assets']) {
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
});

describe('least privilege', () => {
  it('only token-refresh can read the credentials secret', () => {
    const credRef = lid(stack.credentialsSecret);
    const policies = template.findResources('AWS::IAM::Policy');
    const readers = Object.values(policies).filter((p) =>
      JSON.stringify(p.Properties).includes(`"Ref":"${credRef}"`),
    );
    expect(readers).toHaveLength(1);
    const roles = (readers[0]!.Properties as { Roles: { Ref: string }[] }).Roles.map((r) => r.Ref);
    expect(roles).toEqual([lid(stack.tokenRefresh.role! as never)]);
  });

  it.each(MODULES)(
    'the %s exporter writes only its own prefix and state, reads the token, may invoke token-refresh',
    (module) => {
      const fn = stack.exporters[module];
      const statements = statementsOfRole(lid(fn.role! as never));
      const s3 = statements.filter((s) => asArray(s.Action).some((a) => a.startsWith('s3:')));
      const bucket = lid(stack.bucket);
      const obj = (key: string) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucket, 'Arn'] }, `/${key}`]] });
      expect(s3).toEqual([
        {
          Sid: 'WriteOwnPrefixAndState',
          Effect: 'Allow',
          Action: ['s3:PutObject', 's3:AbortMultipartUpload'],
          Resource: [obj(`qualys/${module}/*`), obj(`qualys/_state/${module}.json`)],
        },
        {
          Sid: 'ReadOwnState',
          Effect: 'Allow',
          Action: 's3:GetObject',
          Resource: obj(`qualys/_state/${module}.json`),
        },
        {
          Sid: 'SeeOwnStateMissing',
          Effect: 'Allow',
          Action: 's3:ListBucket',
          Resource: { 'Fn::GetAtt': [bucket, 'Arn'] },
          Condition: { StringEquals: { 's3:prefix': `qualys/_state/${module}.json` } },
        },
      ]);
      const text = JSON.stringify(statements);
      expect(text).toContain(lid(stack.tokenSecret));
      expect(text).not.toContain(lid(stack.credentialsSecret));
      expect(statements.some((s) => asArray(s.Action).includes('lambda:InvokeFunction'))).toBe(true);
      // No wildcard resource on any data action.
      for (const s of statements) {
        const dataAction = asArray(s.Action).some((a) => /^(s3|secretsmanager|lambda):/.test(a));
        if (dataAction) expect(asArray(s.Resource)).not.toContain('*');
      }
    },
  );
});

describe('loops and schedules', () => {
  it.each(MODULES)('a schedule starts the %s state machine', (module) => {
    const sm = lid(stack.stateMachines[module]);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Target: Match.objectLike({ Arn: { Ref: sm } }),
    });
  });

  it('token refresh is scheduled every 30 minutes against the token-refresh function', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(30 minutes)',
      Target: Match.objectLike({ Arn: { 'Fn::GetAtt': [lid(stack.tokenRefresh), 'Arn'] } }),
    });
  });

  it('a disabled schedule is not created', () => {
    synth({ 'schedule:edr-events': 'disabled' }).template.resourceCountIs('AWS::Scheduler::Schedule', 4);
  });

  it('the state machine loops on continue, succeeds on done, fails otherwise, and skips when already running', () => {
    const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    const defs = Object.values(template.findResources('AWS::StepFunctions::StateMachine')).map((r) => {
      const body = (
        r.Properties as { DefinitionString: { 'Fn::Join': [string, unknown[]] } }
      ).DefinitionString['Fn::Join'][1]
        .map((p) => (typeof p === 'string' ? p : 'X'))
        .join('');
      return JSON.parse(body) as { StartAt: string; States: Record<string, Record<string, unknown>> };
    });
    expect(policies).toContain('states:ListExecutions');
    for (const d of defs) {
      expect(d.StartAt).toMatch(/CheckRunning$/);
      const choice = Object.entries(d.States).find(([k]) => k.endsWith('Continue?'))![1] as {
        Choices: { Variable: string; StringEquals: string; Next: string }[];
        Default: string;
      };
      const onContinue = choice.Choices.find((c) => c.StringEquals === 'continue')!;
      expect(onContinue.Variable).toBe('$.status');
      // continue → wait if Qualys asked for it (secondsPath $.waitSeconds) → continuation → invoke.
      const mustWait = d.States[onContinue.Next] as {
        Type: string;
        Choices: { Next: string }[];
        Default: string;
      };
      expect(mustWait.Type).toBe('Choice');
      const wait = d.States[mustWait.Choices[0]!.Next]!;
      expect(wait).toMatchObject({ Type: 'Wait', SecondsPath: '$.waitSeconds', Next: mustWait.Default });
      const continuation = d.States[mustWait.Default]!;
      expect(continuation.Parameters).toEqual({ continuation: { 'runId.$': '$.runId' } });
      const invokeName = continuation.Next as string;
      expect(d.States[invokeName]!.Next).toBe(Object.keys(d.States).find((k) => k.endsWith('Continue?')));
      expect(d.States[choice.Choices.find((c) => c.StringEquals === 'done')!.Next]!.Type).toBe('Succeed');
      expect(d.States[choice.Default]!.Type).toBe('Fail');
      expect(JSON.stringify(d.States[invokeName]!.Retry)).toContain('Lambda.TooManyRequestsException');
      // The state itself is the event: no Parameters that would replace it.
      expect(d.States[invokeName]!.Parameters).toBeUndefined();
    }
  });
});

describe('cdk-nag', () => {
  it('AwsSolutions reports no unacknowledged errors or warnings (default and KMS settings)', () => {
    expect(() => synth()).not.toThrow();
    expect(() => synth({ kms: true, versioned: true, retentionDays: 365 })).not.toThrow();
  });

  it('the check is live: without the written acknowledgments synthesis fails', () => {
    expect(() => synth({}, { acknowledge: false })).toThrow(/AwsSolutions-SMG4/);
  });
});

describe('context', () => {
  it.each([
    [{ 'schedule:pci-scans': 'every day' }, /schedule:pci-scans/],
    [{ platform: 'MARS1' }, /platform/],
    [{ kms: 'yes' }, /kms/],
    [{ retentionDays: -1 }, /retentionDays/],
    [{ exporterEnv: { AWS_SECRET: 'x' } }, /QUALYS_/],
  ])('bad context %j names the key', (ctx, pattern) => {
    const all: Record<string, unknown> = { ...cdkJson.context, ...ctx };
    expect(() => readSettings((k) => all[k])).toThrow(ContextError);
    expect(() => readSettings((k) => all[k])).toThrow(pattern);
  });
});
