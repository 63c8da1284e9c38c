// An enterprise account: an existing bucket encrypted with a customer KMS key, functions in given subnets (fixed
// egress), retention that keeps checkpoints, versioning, the Glue projection start, the readers' policy and
// workgroup, and the hardened alarm delivery — asserted on the synthesized templates, single- and multi-tenant.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it, vi } from 'vitest';
import { buildStack } from '../../infra/build';
import { ContextError, readSettings } from '../../infra/context';
import { VPC_ACCESS_ACTIONS } from '../../infra/functions';
import type { QualysExportStack } from '../../infra/stack';
import { ATHENA_RESULTS, ATHENA_RESULTS_DAYS } from '../../infra/storage';
import { MODULES } from '../../shared/config';
import { definitionOf } from './asl';
import { expectEveryAcknowledgementMatches, unacknowledged } from './nag-findings';

// Synthesizing (and cdk-nag checking) whole stacks takes tens of seconds on a loaded 2-core machine.
vi.setConfig({ testTimeout: 240_000, hookTimeout: 240_000 });

const ROOT = join(import.meta.dirname, '..', '..');
const cdkJson = JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as {
  context: Record<string, unknown>;
};

type Json = Record<string, unknown>;
type Statement = {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Json;
};
type Resource = { Type: string; Properties: Json; DependsOn?: string[] };
const asArray = <T>(v: T | T[]) => (Array.isArray(v) ? v : [v]);
const lidIn = (c: { node: { defaultChild?: unknown } }) =>
  Stack.of(c as never).getLogicalId(c.node.defaultChild as never);

const KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const SUBNETS = ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'];
const VPC = 'vpc-0123456789abcdef0';
const SG = 'sg-0123456789abcdef0';
const TENANTS = [{ id: 'acme' }, { id: 'beta', modules: ['edr-events'], alarmEmail: 'beta@example.com' }];
/** The issue's "Done when" settings: an existing encrypted bucket, functions in given subnets. */
const EXISTING = { bucketName: 'corp-data-lake', bucketKmsKeyArn: KEY, subnetIds: SUBNETS };
const RETENTION = { retentionDays: 30, versioned: true };

interface Synth {
  stack: QualysExportStack;
  /** The root template and every tenant's nested template. */
  templates: Template[];
  root: Template;
}

function synth(extra: Record<string, unknown>): Synth {
  const app = new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [], ...extra } });
  const { stack } = buildStack(app);
  const root = Template.fromStack(stack);
  return {
    stack,
    root,
    templates: [root, ...Object.values(stack.tenantStacks).map((t) => Template.fromStack(t))],
  };
}

const resources = (t: Template, type: string) =>
  Object.entries(t.toJSON().Resources as Record<string, Resource>).filter(([, r]) => r.Type === type);

function statementsOf(t: Template, role: string): Statement[] {
  return resources(t, 'AWS::IAM::Policy')
    .filter(([, p]) => asArray(p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === role))
    .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

/** Every function of the stack (root and tenants) with its template, role logical id and resource. */
function functionsOf(s: Synth) {
  return s.templates.flatMap((t) =>
    resources(t, 'AWS::Lambda::Function').map(([id, f]) => ({
      t,
      id,
      f,
      role: ((f.Properties.Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'] ?? [])[0]!,
    })),
  );
}

/** Every exporter of every tenant, with the template it is in. */
function exportersOf(s: Synth) {
  return s.stack.tenants.flatMap((r) =>
    r.tenant.modules.map((m) => ({
      t: Template.fromStack(Stack.of(r.scope)),
      module: m,
      role: lidIn(r.exporters[m]!.role! as never),
    })),
  );
}

const VARIANTS = [
  ['single-tenant', {}],
  ['multi-tenant', { tenants: TENANTS }],
] as const;

describe.each(VARIANTS)('%s: an existing bucket with a customer KMS key, in given subnets', (_n, shape) => {
  const withVpc = { ...shape, ...EXISTING, vpcId: VPC };
  const withSgs = { ...shape, ...EXISTING, securityGroupIds: [SG] };

  it('every exporter may use the bucket key exactly as S3 needs it, and only through S3', () => {
    const s = synth(withVpc);
    expect(s.stack.dataKeyArn).toBe(KEY);
    for (const { t, module, role } of exportersOf(s)) {
      const kms = statementsOf(t, role).filter((st) => asArray(st.Action).some((a) => a.startsWith('kms:')));
      expect(kms, module).toEqual([
        {
          Sid: 'BucketKeyThroughS3',
          Effect: 'Allow',
          Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
          Resource: KEY,
          Condition: {
            StringEquals: {
              'kms:ViaService': { 'Fn::Join': ['', ['s3.eu-west-1.', { Ref: 'AWS::URLSuffix' }]] },
            },
          },
        },
      ]);
    }
    // No IAM policy grants what S3 never calls (Encrypt, ReEncrypt, GenerateDataKeyWithoutPlaintext); no data key.
    for (const t of s.templates) {
      const iam = [...resources(t, 'AWS::IAM::Policy'), ...resources(t, 'AWS::IAM::ManagedPolicy')];
      const actions = iam.flatMap(([, p]) =>
        (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement.flatMap((x) =>
          asArray(x.Action),
        ),
      );
      for (const a of actions.filter((x) => x.startsWith('kms:')))
        expect(['kms:Decrypt', 'kms:GenerateDataKey']).toContain(a);
    }
    expect(resources(s.root, 'AWS::KMS::Key').map(([id]) => id)).toEqual([
      expect.stringMatching(/^AlarmTopicKey/),
    ]);
    // The token refresh never touches S3: no key for it.
    for (const r of s.stack.tenants.filter((x) => x.tokenRefresh)) {
      const t = Template.fromStack(Stack.of(r.scope));
      expect(JSON.stringify(statementsOf(t, lidIn(r.tokenRefresh!.role! as never)))).not.toContain('kms:');
    }
  });

  it.each([
    ['a created security group', withVpc],
    ['given security groups', withSgs],
  ])(
    'every function runs in the subnets (%s), with the network-interface permissions Lambda needs',
    (_k, ctx) => {
      const s = synth(ctx);
      const fns = functionsOf(s);
      // Token refresh and exporters of every tenant, and the deploy-time partition-start function.
      expect(fns.length).toBe(s.stack.tenants.reduce((n, r) => n + r.tenant.modules.length + 1, 0) + 1);
      for (const { t, id, f, role } of fns) {
        const vpc = f.Properties.VpcConfig as { SubnetIds: string[]; SecurityGroupIds: unknown[] };
        expect(vpc.SubnetIds, id).toEqual(SUBNETS);
        if ('securityGroupIds' in ctx) expect(vpc.SecurityGroupIds).toEqual([SG]);
        else {
          expect(vpc.SecurityGroupIds).toHaveLength(1);
          expect(JSON.stringify(vpc.SecurityGroupIds)).toMatch(/FunctionSecurityGroup/);
        }
        const vpcPolicies = resources(t, 'AWS::IAM::Policy').filter(([, p]) =>
          JSON.stringify(p.Properties).includes('ec2:CreateNetworkInterface'),
        );
        expect(vpcPolicies, id).toHaveLength(1);
        const [policyId, policy] = vpcPolicies[0]!;
        expect(asArray(policy.Properties.Roles as { Ref: string }[]).map((r) => r.Ref)).toContain(role);
        expect((policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement).toEqual([
          { Effect: 'Allow', Action: VPC_ACCESS_ACTIONS, Resource: '*' },
        ]);
        // Lambda checks these permissions when it creates the function: the policy exists first.
        expect(f.DependsOn, id).toContain(policyId);
        // Not the AWS managed policy (cdk-nag IAM4): only the basic execution role is.
        const roleRes = t.toJSON().Resources[role] as Resource;
        expect(JSON.stringify(roleRes.Properties.ManagedPolicyArns)).not.toContain('VPCAccess');
      }
    },
  );

  it('the created security group admits nothing and lets out HTTPS and the proxy port only', () => {
    const s = synth({ ...withVpc, exporterEnv: { HTTPS_PROXY: 'http://proxy.corp.example:3128' } });
    const sgs = resources(s.root, 'AWS::EC2::SecurityGroup');
    expect(sgs).toHaveLength(1);
    const sg = sgs[0]![1].Properties;
    expect(sg.VpcId).toBe(VPC);
    expect(sg.SecurityGroupIngress).toBeUndefined();
    expect(
      (sg.SecurityGroupEgress as Json[]).map((e) => [e.IpProtocol, e.FromPort, e.ToPort, e.CidrIp]),
    ).toEqual([
      ['tcp', 443, 443, '0.0.0.0/0'],
      ['tcp', 3128, 3128, '0.0.0.0/0'],
    ]);
    expect(Object.keys(s.root.findOutputs('FunctionSecurityGroupId'))).toEqual(['FunctionSecurityGroupId']);
    expect(resources(synth(withSgs).root, 'AWS::EC2::SecurityGroup')).toHaveLength(0);
  });

  it('cdk-nag is clean, and every acknowledgement matches a finding on its own construct', () => {
    for (const ctx of [withVpc, withSgs]) {
      const { stack, findings } = unacknowledged({ ...cdkJson.context, ...ctx });
      expectEveryAcknowledgementMatches(stack, findings);
      expect(() => synth(ctx)).not.toThrow();
    }
  });

  it('the readers get the key (decrypt the data, encrypt query results) through S3 as well', () => {
    const s = synth(withVpc);
    const reader = resources(s.root, 'AWS::IAM::ManagedPolicy')[0]![1];
    const kms = (reader.Properties.PolicyDocument as { Statement: Statement[] }).Statement.filter(
      (st) => st.Sid === 'BucketKeyThroughS3',
    );
    expect(kms).toHaveLength(1);
    expect(kms[0]).toMatchObject({ Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: KEY });
    const wg = resources(s.root, 'AWS::Athena::WorkGroup')[0]![1].Properties as {
      WorkGroupConfiguration: { ResultConfiguration: Json };
    };
    expect(wg.WorkGroupConfiguration.ResultConfiguration).toEqual({
      OutputLocation: `s3://corp-data-lake/qualys/${ATHENA_RESULTS}/`,
      EncryptionConfiguration: { EncryptionOption: 'SSE_KMS', KmsKey: KEY },
    });
  });
});

describe.each(VARIANTS)('%s: retention and versioning', (_n, shape) => {
  type Rule = {
    Id?: string;
    Prefix?: string;
    ExpirationInDays?: number;
    NoncurrentVersionExpiration?: { NoncurrentDays: number };
    ExpiredObjectDeleteMarker?: boolean;
    AbortIncompleteMultipartUpload?: unknown;
  };
  const rulesOf = (t: Template) => {
    const bucket = resources(t, 'AWS::S3::Bucket').find(([id]) => id.startsWith('Bucket'))![1];
    return (bucket.Properties.LifecycleConfiguration as { Rules: Rule[] }).Rules;
  };
  /** The expiration a current object under `key` gets (the shortest of the rules whose prefix covers it). */
  const expiresAfter = (rules: Rule[], key: string) => {
    const days = rules
      .filter((r) => r.ExpirationInDays !== undefined && key.startsWith(r.Prefix ?? ''))
      .map((r) => r.ExpirationInDays!);
    return days.length ? Math.min(...days) : undefined;
  };

  const s = () => synth({ ...shape, ...RETENTION });
  const roots = () => ('tenants' in shape ? ['qualys', 'qualys/acme', 'qualys/beta'] : ['qualys']);

  it('data expires after retentionDays; checkpoints and catalogue manifests never do', () => {
    const rules = rulesOf(s().root);
    for (const root of roots()) {
      for (const m of MODULES) {
        expect(expiresAfter(rules, `${root}/${m}/dt=2026-01-01/run=r1/part-00000.ndjson.gz`), m).toBe(30);
        expect(expiresAfter(rules, `${root}/${m}/dt=2026-01-01/run=r1/_manifest.json`), m).toBe(30);
        expect(expiresAfter(rules, `${root}/_state/${m}.json`), `${root} state`).toBeUndefined();
        expect(
          expiresAfter(rules, `${root}/manifests/module=${m}/dt=2026-01-01/r1.json`),
          `${root} manifests`,
        ).toBeUndefined();
      }
    }
    expect(expiresAfter(rules, `qualys/${ATHENA_RESULTS}/q1.csv`)).toBe(ATHENA_RESULTS_DAYS);
    // Without retention: nothing of the exports expires.
    const none = rulesOf(synth({ ...shape }).root);
    expect(expiresAfter(none, 'qualys/edr-events/dt=2026-01-01/run=r1/part-00000.ndjson.gz')).toBeUndefined();
  });

  it('with versioning, replaced versions (the state file every minute) and stale delete markers expire', () => {
    const { root } = s();
    const bucket = resources(root, 'AWS::S3::Bucket').find(([id]) => id.startsWith('Bucket'))![1];
    expect(bucket.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    const noncurrent = rulesOf(root).filter((r) => r.NoncurrentVersionExpiration);
    expect(noncurrent).toEqual([
      {
        Id: 'ExpireReplacedVersions',
        Prefix: 'qualys/',
        Status: 'Enabled',
        NoncurrentVersionExpiration: { NoncurrentDays: 7 },
        ExpiredObjectDeleteMarker: true,
      },
    ]);
    const days = rulesOf(synth({ ...shape, versioned: true, noncurrentVersionDays: 2 }).root).find(
      (r) => r.NoncurrentVersionExpiration,
    );
    expect(days!.NoncurrentVersionExpiration).toEqual({ NoncurrentDays: 2 });
  });

  it('cdk-nag is clean', () => {
    expect(() => synth({ ...shape, ...RETENTION, kms: true })).not.toThrow();
  });
});

describe('context for enterprise settings: each bad value names its key', () => {
  const read = (extra: Record<string, unknown>) => {
    const all: Record<string, unknown> = { ...cdkJson.context, ...extra };
    return readSettings((k) => all[k], new Date('2026-11-24T12:00:00Z'));
  };
  it.each([
    [
      { kms: true, bucketName: 'corp-lake' },
      /'kms' creates a new key .* 'bucketName' \(corp-lake\) .*'bucketKmsKeyArn'/,
    ],
    [{ bucketKmsKeyArn: KEY }, /'bucketKmsKeyArn' names the key of an existing bucket: set 'bucketName'/],
    [
      { bucketName: 'corp-lake', bucketKmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:alias/lake' },
      /'bucketKmsKeyArn' must be the key's ARN, not an alias .*describe-key/,
    ],
    [{ bucketName: 'corp-lake', bucketKmsKeyArn: 'alias/lake' }, /not an alias/],
    [{ bucketName: 'corp-lake', bucketKmsKeyArn: 'key/1234' }, /'bucketKmsKeyArn' must be a KMS key ARN/],
    [
      { bucketName: 'corp-lake', retentionDays: 30 },
      /'retentionDays' configures a bucket this stack creates/,
    ],
    [{ bucketName: 'corp-lake', versioned: true }, /'versioned' configures a bucket this stack creates/],
    [
      { subnetIds: SUBNETS },
      /'subnetIds' needs the functions' security groups: set 'securityGroupIds', or 'vpcId'/,
    ],
    [{ subnetIds: ['subnet-xyz'], vpcId: VPC }, /'subnetIds' lists 'subnet-xyz', which is not a subnet id/],
    [{ subnetIds: [SUBNETS[0], SUBNETS[0]], vpcId: VPC }, /'subnetIds' lists '.*' twice/],
    [{ subnetIds: '[subnet-', vpcId: VPC }, /'subnetIds' is not valid JSON/],
    [{ subnetIds: SUBNETS, securityGroupIds: ['sg-1'] }, /'securityGroupIds' lists 'sg-1'/],
    [{ subnetIds: SUBNETS, vpcId: 'vpc' }, /'vpcId' must be a VPC id/],
    [{ subnetIds: SUBNETS, vpcId: VPC, securityGroupIds: [SG] }, /'vpcId' is only used to create/],
    [{ securityGroupIds: [SG] }, /'securityGroupIds' is set but 'subnetIds' is not/],
    [{ partitionStartDate: '2026-02-30' }, /'partitionStartDate' must be a date YYYY-MM-DD/],
    [{ partitionStartDate: '2026-12-01' }, /'partitionStartDate' \(2026-12-01\) is after today/],
    [{ noncurrentVersionDays: 0 }, /noncurrentVersionDays/],
  ])('%j', (ctx, pattern) => {
    expect(() => read(ctx)).toThrow(ContextError);
    expect(() => read(ctx)).toThrow(pattern);
  });

  it('lists come as arrays, JSON strings (-c subnetIds=[…]) or comma lists', () => {
    for (const v of [SUBNETS, JSON.stringify(SUBNETS), SUBNETS.join(', ')]) {
      expect(read({ subnetIds: v, vpcId: VPC }).vpc).toEqual({ subnetIds: SUBNETS, vpcId: VPC });
    }
  });
});

describe.each(VARIANTS)('%s: where the dt projection starts, and what readers get', (_n, shape) => {
  const external = (t: Template) =>
    resources(t, 'AWS::Glue::Table')
      .map(
        ([, r]) =>
          (r.Properties as { TableInput: { Name: string; TableType: string; Parameters: Json } }).TableInput,
      )
      .filter((i) => i.TableType === 'EXTERNAL_TABLE');

  it('by default every table projects dt from the earliest partition in the bucket (found at deploy)', () => {
    const { stack, root } = synth({ ...shape });
    const cr = resources(root, 'Custom::QexportPartitionStart');
    expect(cr).toHaveLength(1);
    const [crId, res] = cr[0]!;
    expect(res.Properties).toMatchObject({
      Bucket: { Ref: lidIn(stack.bucket as never) },
      Prefix: 'qualys',
      Modules: [...MODULES],
      ServiceToken: { 'Fn::GetAtt': [lidIn(stack.partitionStart.fn!), 'Arn'] },
    });
    expect(res.Properties.Tenants).toEqual('tenants' in shape ? ['acme', 'beta'] : undefined);
    const tables = external(root);
    expect(tables).toHaveLength(MODULES.length + 1);
    for (const t of tables) {
      expect(t.Parameters['projection.dt.range'], t.Name).toEqual({
        'Fn::Join': [',', [{ 'Fn::GetAtt': [crId, 'StartDate'] }, 'NOW']],
      });
    }
    // The deploy-time function may only list under the prefix.
    const st = statementsOf(root, lidIn(stack.partitionStart.fn!.role! as never)).filter((x) =>
      asArray(x.Action).some((a) => a.startsWith('s3:')),
    );
    expect(st).toEqual([
      {
        Sid: 'ListPartitions',
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: { 'Fn::GetAtt': [lidIn(stack.bucket as never), 'Arn'] },
        Condition: { StringLike: { 's3:prefix': ['qualys/*'] } },
      },
    ]);
  });

  it('partitionStartDate is used as written, with no deploy-time function', () => {
    const { root } = synth({ ...shape, partitionStartDate: '2025-06-01' });
    expect(resources(root, 'Custom::QexportPartitionStart')).toHaveLength(0);
    expect(JSON.stringify(root.toJSON())).not.toContain('PartitionStartFunction');
    for (const t of external(root)) expect(t.Parameters['projection.dt.range']).toBe('2025-06-01,NOW');
  });

  it('the reader policy is an output: the prefix, its listing, the catalogue, the workgroup', () => {
    const { stack, root } = synth({ ...shape });
    const policies = resources(root, 'AWS::IAM::ManagedPolicy');
    expect(policies).toHaveLength(1);
    const [policyId, policy] = policies[0]!;
    expect(root.findOutputs('ReaderPolicyArn').ReaderPolicyArn!.Value).toEqual({ Ref: policyId });
    const st = (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement;
    const bySid = Object.fromEntries(st.map((x) => [x.Sid, x]));
    const bucketArn = { 'Fn::GetAtt': [lidIn(stack.bucket as never), 'Arn'] };
    expect(bySid.ReadExports).toMatchObject({
      Action: 's3:GetObject',
      Resource: { 'Fn::Join': ['', [bucketArn, '/qualys/*']] },
    });
    expect(bySid.ListExports).toMatchObject({
      Action: 's3:ListBucket',
      Resource: bucketArn,
      Condition: { StringLike: { 's3:prefix': ['qualys/*'] } },
    });
    expect(bySid.WriteQueryResults).toMatchObject({
      Resource: { 'Fn::Join': ['', [bucketArn, `/qualys/${ATHENA_RESULTS}/*`]] },
    });
    expect(asArray(bySid.WriteQueryResults!.Action)).not.toContain('s3:DeleteObject');
    // Exactly the stack's tables and views, by name.
    const glue = JSON.stringify(bySid.ReadCatalogue!.Resource);
    const names = resources(root, 'AWS::Glue::Table').map(
      ([, r]) => (r.Properties as { TableInput: { Name: string } }).TableInput.Name,
    );
    for (const n of names) expect(glue).toContain(`/${n}"`);
    expect(glue).not.toContain('/*');
    expect(asArray(bySid.ReadCatalogue!.Action).every((a) => /^glue:(Get|BatchGet)/.test(a))).toBe(true);
    expect(JSON.stringify(bySid.QueryInWorkGroup!.Resource)).toContain(
      `:workgroup/QualysExport-qualys-export`,
    );
    // No data key: no KMS statement; no write anywhere but the query results.
    expect(bySid.BucketKeyThroughS3).toBeUndefined();
    const writes = st.filter((x) => asArray(x.Action).some((a) => /s3:(Put|Delete)/.test(a)));
    expect(writes.map((x) => x.Sid)).toEqual(['WriteQueryResults']);
    const wg = resources(root, 'AWS::Athena::WorkGroup')[0]![1].Properties as {
      Name: string;
      WorkGroupConfiguration: Json;
    };
    expect(wg.Name).toBe('QualysExport-qualys-export');
    expect(wg.WorkGroupConfiguration).toMatchObject({
      EnforceWorkGroupConfiguration: true,
      ResultConfiguration: { EncryptionConfiguration: { EncryptionOption: 'SSE_S3' } },
    });
  });
});

describe.each(VARIANTS)('%s: hardening', (_n, shape) => {
  it('the loop retries Lambda.ClientExecutionTimeoutException', () => {
    const s = synth({ ...shape });
    for (const r of s.stack.tenants) {
      const t = Template.fromStack(Stack.of(r.scope));
      for (const m of r.tenant.modules) {
        const d = definitionOf(t, lidIn(r.stateMachines[m]!));
        const retry = d.States.Invoke!.Retry as { ErrorEquals: string[] }[];
        expect(retry.flatMap((x) => x.ErrorEquals)).toContain('Lambda.ClientExecutionTimeoutException');
      }
    }
  });

  it('CloudWatch may use the alarm key and publish to the alarm topics only for this stack’s alarms', () => {
    const s = synth({ ...shape });
    const alarmArn = {
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':cloudwatch:',
          { Ref: 'AWS::Region' },
          ':',
          { Ref: 'AWS::AccountId' },
          ':alarm:QualysExport-*',
        ],
      ],
    };
    const conditions = {
      ArnLike: { 'aws:SourceArn': alarmArn },
      StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
    };
    const key = resources(s.root, 'AWS::KMS::Key').find(([id]) => id.startsWith('AlarmTopicKey'))![1];
    const cw = (
      key.Properties.KeyPolicy as { Statement: (Statement & { Principal?: unknown })[] }
    ).Statement.filter((x) => JSON.stringify(x.Principal) === '{"Service":"cloudwatch.amazonaws.com"}');
    expect(cw).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        Condition: conditions,
      }),
    ]);
    // Every topic alarms publish to (the shared one, a tenant's own) has the same guard in its topic policy.
    const topics = s.templates.flatMap((t) => resources(t, 'AWS::SNS::Topic').map(([id]) => ({ t, id })));
    expect(topics.length).toBe('tenants' in shape ? 2 : 1);
    for (const { t, id } of topics) {
      const policy = resources(t, 'AWS::SNS::TopicPolicy').find(([, p]) =>
        JSON.stringify(p.Properties.Topics).includes(id),
      )![1];
      const publish = (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement.filter(
        (x) => x.Sid === 'AllowAlarmsOfThisStackToPublish',
      );
      expect(publish).toEqual([
        expect.objectContaining({
          Action: 'sns:Publish',
          Resource: { Ref: id },
          Condition: expect.anything(),
        }),
      ]);
      const c = JSON.stringify(publish[0]!.Condition);
      expect(c).toContain(':alarm:QualysExport-');
      expect(c).toContain('"aws:SourceAccount":{"Ref":"AWS::AccountId"}');
    }
    // Every alarm is named so that the guard lets it through.
    for (const t of s.templates) {
      for (const [, a] of resources(t, 'AWS::CloudWatch::Alarm')) {
        expect(a.Properties.AlarmName).toMatch(/^QualysExport-/);
      }
    }
  });

  it('busy executions succeed (AlreadyRunning), so ExecutionsFailed subtracts nothing', () => {
    const s = synth({ ...shape });
    for (const t of s.templates) {
      for (const [, a] of resources(t, 'AWS::CloudWatch::Alarm')) {
        if (!String(a.Properties.AlarmName).endsWith('ExecutionsFailed')) continue;
        const metrics = a.Properties.Metrics as {
          Expression?: string;
          MetricStat?: { Metric: { MetricName: string } };
        }[];
        expect(metrics.find((x) => x.Expression)!.Expression).toBe(
          'FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)',
        );
        expect(
          metrics
            .filter((x) => x.MetricStat)
            .map((x) => x.MetricStat!.Metric.MetricName)
            .sort(),
        ).toEqual(['ExecutionsAborted', 'ExecutionsFailed', 'ExecutionsTimedOut']);
      }
    }
  });

  it('the access-log bucket has ACLs disabled; log delivery is a bucket-policy grant tied to the data bucket', () => {
    const { stack, root } = synth({ ...shape });
    const logs = resources(root, 'AWS::S3::Bucket').find(([id]) => id.startsWith('AccessLogs'))!;
    expect(logs[1].Properties.AccessControl).toBeUndefined();
    expect(logs[1].Properties.OwnershipControls).toEqual({
      Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }],
    });
    expect(JSON.stringify(root.toJSON())).not.toContain('LogDeliveryWrite');
    const policy = resources(root, 'AWS::S3::BucketPolicy').find(
      ([, p]) => JSON.stringify(p.Properties.Bucket) === JSON.stringify({ Ref: logs[0] }),
    )![1];
    const grant = (
      policy.Properties.PolicyDocument as { Statement: (Statement & { Principal?: unknown })[] }
    ).Statement.filter((x) => x.Effect === 'Allow');
    expect(grant).toEqual([
      {
        Effect: 'Allow',
        Principal: { Service: 'logging.s3.amazonaws.com' },
        Action: 's3:PutObject',
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [logs[0], 'Arn'] }, '/bucket/*']] },
        Condition: {
          ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [lidIn(stack.bucket as never), 'Arn'] } },
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
        },
      },
    ]);
  });
});
