// Several Qualys subscriptions in one deployment: the `tenants` context, what each tenant gets (its nested
// stack), what it may touch (IAM, evaluated on the synthesized policies), and what stays exactly as it was for a
// stack without tenants.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { buildStack } from '../../infra/build';
import { ContextError, readSettings } from '../../infra/context';
import type { QualysExportStack } from '../../infra/stack';
import { pascal } from '../../infra/context';
import { MODULES, type ModuleName } from '../../shared/config';
import { CLOCK_SKEW_MODULES } from '../../shared/metrics-names';
import { decodePrestoView } from '../../shared/schema/views';
import { definitionOf } from './asl';
import { expectEveryAcknowledgementMatches, unacknowledged } from './nag-findings';

// Synthesizing (and cdk-nag checking) whole stacks takes tens of seconds on a loaded 2-core machine.
vi.setConfig({ testTimeout: 240_000, hookTimeout: 240_000 });

const ROOT = join(import.meta.dirname, '..', '..');
const cdkJson = JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as {
  context: Record<string, unknown>;
};
const released = JSON.parse(
  readFileSync(join(import.meta.dirname, 'single-tenant-resources.json'), 'utf8'),
) as {
  resources: Record<string, string>;
  outputs: string[];
};

function synth(extra: Record<string, unknown> = {}, opts: { acknowledge?: boolean } = {}) {
  const app = new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [], ...extra } });
  const { stack } = buildStack(app, opts);
  return { stack, template: Template.fromStack(stack) };
}

type Json = Record<string, unknown>;
type Statement = {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Json;
  Sid?: string;
};
const asArray = <T>(v: T | T[]) => (Array.isArray(v) ? v : [v]);
const resourceCountOf = (t: Template, type: string) => Object.keys(t.findResources(type)).length;
const resourcesOf = (t: Template, type: string) =>
  t.findResources(type) as Record<string, { Properties: Json }>;
const lidIn = (c: { node: { defaultChild?: unknown } }) =>
  Stack.of(c as never).getLogicalId(c.node.defaultChild as never);

/** Every statement of every IAM policy in `t`, with the logical ids of the roles it is attached to. */
function policyStatements(t: Template): { roles: string[]; policy: string; statement: Statement }[] {
  return Object.entries(resourcesOf(t, 'AWS::IAM::Policy')).flatMap(([policy, p]) =>
    (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement.map((statement) => ({
      policy,
      roles: asArray(p.Properties.Roles as { Ref: string }[]).map((r) => r.Ref),
      statement,
    })),
  );
}

/** A CloudFormation value with its intrinsics resolved: Refs from `refs`, GetAtt as `<lid>.<attr>`. */
function resolveCfn(v: unknown, refs: Record<string, string>): string {
  if (typeof v === 'string') return v;
  const o = v as Json;
  if ('Ref' in o) return refs[o.Ref as string] ?? `ref:${o.Ref as string}`;
  if ('Fn::GetAtt' in o) return (o['Fn::GetAtt'] as string[]).join('.');
  if ('Fn::Join' in o) {
    const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => resolveCfn(p, refs)).join(sep);
  }
  throw new Error(`unsupported intrinsic ${JSON.stringify(v)}`);
}

const glob = (pattern: string) =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );

const BUCKET_ARN = 'arn:aws:s3:::qexport-bucket';
const sortDims = (d: unknown) => [...(d as { Name: string }[])].sort((a, b) => a.Name.localeCompare(b.Name));

/**
 * Whether a role's statements allow `action` on `resource` (with `s3:prefix` for ListBucket): the IAM rules that
 * matter here — Allow statements, wildcards in actions and resources, StringLike on s3:prefix. Any other
 * condition is taken as met, so a "no" from this function is never too optimistic.
 */
function allows(statements: Statement[], action: string, resource: string, s3Prefix?: string): boolean {
  const refs = { BucketArn: BUCKET_ARN, BucketName: 'qexport-bucket' };
  return statements.some((s) => {
    if (s.Effect !== 'Allow') return false;
    if (!asArray(s.Action).some((a) => glob(a).test(action))) return false;
    if (!asArray(s.Resource).some((r) => glob(resolveCfn(r, refs)).test(resource))) return false;
    const like = (s.Condition?.StringLike as Json | undefined)?.['s3:prefix'];
    if (like !== undefined) {
      if (s3Prefix === undefined) return false;
      return asArray(like as string | string[]).some((p) => glob(p).test(s3Prefix));
    }
    return true;
  });
}

const THREE = [
  { id: 'acme', platform: 'US2', exporterEnv: { QUALYS_CONCURRENCY: '1', QUALYS_EDR_PAGE_SIZE: '500' } },
  {
    id: 'beta',
    platform: 'EU1',
    modules: ['edr-events', 'certview-certificates'],
    schedules: { 'edr-events': 'rate(2 hours)', 'token-refresh': 'rate(20 minutes)' },
    alarmEmail: 'beta-secops@example.com',
  },
  { id: 'gamma', modules: ['pci-scans'] },
];

describe('context', () => {
  const read = (extra: Record<string, unknown>) => {
    const all: Record<string, unknown> = { ...cdkJson.context, ...extra };
    return readSettings((k) => all[k]);
  };

  it('without a tenants key: one implicit tenant built from the top-level keys', () => {
    const s = read({});
    expect(s.multiTenant).toBe(false);
    expect(s.tenants).toHaveLength(1);
    expect(s.tenants[0]).toMatchObject({ key: '', platform: 'US1', modules: [...MODULES] });
    expect(s.tenants[0]!.id).toBeUndefined();
  });

  it('tenants inherit the top-level keys and override them one by one', () => {
    const s = read({
      exporterEnv: { QUALYS_HTTP_MAX_RETRIES: '3', QUALYS_CONCURRENCY: '2' },
      tenants: THREE,
    });
    expect(s.multiTenant).toBe(true);
    const [acme, beta, gamma] = s.tenants;
    expect(acme).toMatchObject({ id: 'acme', key: 'tenants[0]', platform: 'US2' });
    // The tenant's variables on top of the stack-wide ones.
    expect(acme!.exporterEnv).toEqual({
      QUALYS_HTTP_MAX_RETRIES: '3',
      QUALYS_CONCURRENCY: '1',
      QUALYS_EDR_PAGE_SIZE: '500',
    });
    expect(beta!.modules).toEqual(['certview-certificates', 'edr-events']);
    expect(beta!.schedules['edr-events']).toBe('rate(2 hours)');
    expect(beta!.schedules['certview-certificates']).toBe(cdkJson.context['schedule:certview-certificates']);
    expect(beta!.tokenRefreshSchedule).toBe('rate(20 minutes)');
    expect(beta!.alarmEmail).toBe('beta-secops@example.com');
    expect(gamma).toMatchObject({ platform: 'US1', modules: ['pci-scans'] });
  });

  it('accepts the list as a JSON string, as -c tenants=… passes it', () => {
    expect(read({ tenants: JSON.stringify(THREE) }).tenants.map((t) => t.id)).toEqual([
      'acme',
      'beta',
      'gamma',
    ]);
  });

  const t0 = (extra: Json) => ({ tenants: [{ id: 'acme', ...extra }] });
  it.each([
    [{ tenants: 'not json' }, /context 'tenants' is not valid JSON/],
    [{ tenants: [] }, /context 'tenants' must be a non-empty list/],
    [{ tenants: [{}] }, /context 'tenants\[0\]\.id' is required/],
    [{ tenants: ['acme'] }, /context 'tenants\[0\]' must be an object/],
    [{ tenants: [{ id: 'Acme' }] }, /context 'tenants\[0\]\.id' must be 1-20 lower-case/],
    [{ tenants: [{ id: 'ac_me' }] }, /tenants\[0\]\.id/],
    [{ tenants: [{ id: '1acme' }] }, /tenants\[0\]\.id/],
    [{ tenants: [{ id: 'acme-' }] }, /tenants\[0\]\.id/],
    [{ tenants: [{ id: 'ac--me' }] }, /tenants\[0\]\.id/],
    [{ tenants: [{ id: 'a'.repeat(21) }] }, /tenants\[0\]\.id/],
    [{ tenants: [{ id: 'edr-events' }] }, /context 'tenants\[0\]\.id' may not be 'edr-events'/],
    [{ tenants: [{ id: 'manifests' }] }, /tenants\[0\]\.id' may not be/],
    [
      { tenants: [{ id: 'acme' }, { id: 'beta' }, { id: 'acme' }] },
      /context 'tenants\[2\]\.id' 'acme' is already the id of tenants\[0\]/,
    ],
    [
      { tenants: [{ id: 'acme' }, { id: 'beta', shedules: {} }] },
      /context 'tenants\[1\]\.shedules' is not a tenant setting/,
    ],
    [t0({ platform: 'MARS1' }), /context 'tenants\[0\]\.platform' must be one of/],
    [t0({ gatewayUrl: 'http://qualys.example.com' }), /context 'tenants\[0\]\.gatewayUrl' must use https/],
    [t0({ pciUrl: 'not a url' }), /context 'tenants\[0\]\.pciUrl' is not a valid URL/],
    [t0({ modules: ['edr'] }), /context 'tenants\[0\]\.modules' lists 'edr'/],
    [t0({ modules: [] }), /context 'tenants\[0\]\.modules' must be a non-empty list/],
    [t0({ modules: ['edr-events', 'edr-events'] }), /'tenants\[0\]\.modules' lists 'edr-events' twice/],
    [
      t0({ schedules: { 'edr-events': 'hourly' } }),
      /context 'tenants\[0\]\.schedules\.edr-events' must be rate/,
    ],
    [t0({ schedules: { edr: 'rate(1 hour)' } }), /context 'tenants\[0\]\.schedules\.edr' is not a schedule/],
    [t0({ schedules: 'rate(1 hour)' }), /context 'tenants\[0\]\.schedules' must be an object/],
    [
      t0({ exporterEnv: { QUALYS_CONCURRENCY: '0' } }),
      /context 'tenants\[0\]\.exporterEnv': QUALYS_CONCURRENCY/,
    ],
    [
      t0({ exporterEnv: { QUALYS_EDR_PAGE_SIZE: 'lots' } }),
      /'tenants\[0\]\.exporterEnv': QUALYS_EDR_PAGE_SIZE/,
    ],
    [t0({ exporterEnv: { AWS_REGION: 'x' } }), /context 'tenants\[0\]\.exporterEnv' may only set QUALYS_/],
    [
      t0({ exporterEnv: { QUALYS_CLIENT_SECRET: 'x' } }),
      /'tenants\[0\]\.exporterEnv\.QUALYS_CLIENT_SECRET': credentials go in the credentials secret/,
    ],
    [
      t0({ exporterEnv: { QUALYS_PLATFORM: 'US2' } }),
      /'tenants\[0\]\.exporterEnv\.QUALYS_PLATFORM': set it with the 'tenants\[0\]\.platform' key/,
    ],
    [t0({ alarmEmail: 'secops' }), /context 'tenants\[0\]\.alarmEmail' must be an e-mail address/],
    [
      { platform: '', ...t0({}) },
      /context 'tenants\[0\]\.platform' \(or 'tenants\[0\]\.gatewayUrl'\) must be set/,
    ],
    [{ modules: ['pci-scans', 'nope'] }, /context 'modules' lists 'nope'/],
    [{ exporterEnv: { QUALYS_PCI_PASSWORD: 'x' } }, /'exporterEnv\.QUALYS_PCI_PASSWORD': credentials go/],
    [{ exporterEnv: { QUALYS_HTTP_TIMEOUT_MS: '-5' } }, /context 'exporterEnv': QUALYS_HTTP_TIMEOUT_MS/],
    [{ platform: '' }, /context 'platform' \(or 'gatewayUrl'\) must be set/],
  ])('bad context %j names its key', (ctx, pattern) => {
    expect(() => read(ctx)).toThrow(ContextError);
    expect(() => read(ctx)).toThrow(pattern);
  });

  it('a PCI-only tenant needs no platform (PCI Merchant has one host)', () => {
    expect(
      read({ platform: '', tenants: [{ id: 'pci', modules: ['pci-scans'] }] }).tenants[0]!.modules,
    ).toEqual(['pci-scans']);
  });

  it('names that would exceed what AWS accepts stop the synth, naming the keys to shorten', () => {
    expect(() =>
      synth({ stackName: 'QualysExportProductionEuWest', tenants: [{ id: 'a-rather-long-tenant' }] }),
    ).toThrow(/longer than AWS allows \(64\): shorten context 'stackName' or 'tenants\[0\]\.id'/);
  });
});

describe('one tenant (no tenants key): the single-tenant stack as released', () => {
  let template: Template;
  beforeAll(() => {
    template = synth().template;
  });

  it('keeps every released resource under its logical id and type, and every output', () => {
    const now = template.toJSON() as { Resources: Record<string, { Type: string }>; Outputs: Json };
    const changed = Object.entries(released.resources).filter(
      ([id, type]) => now.Resources[id]?.Type !== type,
    );
    expect(changed).toEqual([]);
    for (const o of released.outputs) expect(Object.keys(now.Outputs)).toContain(o);
    template.resourceCountIs('AWS::CloudFormation::Stack', 0);
  });

  it('its functions carry no tenant and its metrics no Tenant dimension (existing alarms keep their data)', () => {
    for (const f of Object.values(resourcesOf(template, 'AWS::Lambda::Function'))) {
      const env = (f.Properties.Environment as { Variables: Json }).Variables;
      expect(env.QEXPORT_TENANT).toBeUndefined();
      expect(env.QEXPORT_PREFIX ?? 'qualys').toBe('qualys');
    }
    expect(JSON.stringify(template.findResources('AWS::CloudWatch::Alarm'))).not.toContain('"Tenant"');
  });

  it('a module left out of `modules` gets nothing: no function, loop, schedule, alarm or secret', () => {
    const t = synth({ modules: ['edr-events'] }).template;
    // Token refresh, the EDR exporter, and the deploy-time partition-start function (not a module's).
    t.resourceCountIs('AWS::Lambda::Function', 3);
    t.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
    t.resourceCountIs('AWS::SecretsManager::Secret', 2);
    expect(Object.keys(t.findOutputs('*'))).not.toContain('PciCredentialsSecretArn');
    const pciOnly = synth({ modules: ['pci-scans'] }).template;
    pciOnly.resourceCountIs('AWS::Lambda::Function', 2);
    pciOnly.resourceCountIs('AWS::SecretsManager::Secret', 1);
    expect(JSON.stringify(pciOnly.toJSON())).not.toContain('TokenRefresh');
  });
});

describe('three tenants', () => {
  let stack: QualysExportStack;
  let root: Template;
  const nested: Record<string, Template> = {};

  beforeAll(() => {
    const s = synth({ exporterEnv: { QUALYS_HTTP_MAX_RETRIES: '3' }, tenants: THREE });
    stack = s.stack;
    root = s.template;
    for (const [id, ts] of Object.entries(stack.tenantStacks)) nested[id] = Template.fromStack(ts);
  });

  it('the root holds what tenants share; each tenant is one nested stack', () => {
    root.resourceCountIs('AWS::CloudFormation::Stack', 3);
    root.resourceCountIs('AWS::S3::Bucket', 2); // data + access logs
    root.resourceCountIs('AWS::SNS::Topic', 1);
    root.resourceCountIs('AWS::SQS::Queue', 1);
    // Only the deploy-time function that finds where the tables' dt projection starts.
    root.resourceCountIs('AWS::Lambda::Function', 1);
    root.resourceCountIs('AWS::SecretsManager::Secret', 0);
    // The dead-letter queue is shared, and so is its alarm.
    root.resourceCountIs('AWS::CloudWatch::Alarm', 1);
    expect(Object.keys(stack.tenantStacks)).toEqual(['acme', 'beta', 'gamma']);
    expect(Object.keys(root.findOutputs('*')).sort()).toEqual(
      [
        'AlarmTopicArn',
        'AthenaWorkGroupName',
        'BucketName',
        'GlueDatabaseName',
        'ReaderPolicyArn',
        'ScheduleDeadLetterQueueUrl',
      ].sort(),
    );
  });

  it('each tenant gets its modules only, and named resources', () => {
    const expectFunctions = (id: string, modules: ModuleName[], refresh: boolean) => {
      const fns = Object.values(resourcesOf(nested[id]!, 'AWS::Lambda::Function')).map(
        (f) => f.Properties.FunctionName,
      );
      expect(fns.sort()).toEqual(
        [
          ...modules.map((m) => `QualysExport-${id}-${m}`),
          ...(refresh ? [`QualysExport-${id}-token-refresh`] : []),
        ].sort(),
      );
      const machines = Object.values(resourcesOf(nested[id]!, 'AWS::StepFunctions::StateMachine')).map(
        (m) => m.Properties.StateMachineName,
      );
      expect(machines.sort()).toEqual(modules.map((m) => `QualysExport-${id}-${m}`).sort());
    };
    expectFunctions('acme', [...MODULES], true);
    expectFunctions('beta', ['certview-certificates', 'edr-events'], true);
    expectFunctions('gamma', ['pci-scans'], false);
    const secrets = (id: string) =>
      Object.values(resourcesOf(nested[id]!, 'AWS::SecretsManager::Secret'))
        .map((s) => s.Properties.Name)
        .sort();
    expect(secrets('acme')).toEqual([
      'QualysExport/acme/credentials',
      'QualysExport/acme/pci-credentials',
      'QualysExport/acme/token',
      'QualysExport/acme/vm-credentials',
    ]);
    expect(secrets('beta')).toEqual(['QualysExport/beta/credentials', 'QualysExport/beta/token']);
    expect(secrets('gamma')).toEqual(['QualysExport/gamma/pci-credentials']);
  });

  it("each tenant's functions get its own prefix, platform, tenant id and exporterEnv, and nobody else's", () => {
    const want: Record<string, Json> = {
      acme: { QUALYS_PLATFORM: 'US2', QUALYS_CONCURRENCY: '1', QUALYS_EDR_PAGE_SIZE: '500' },
      beta: { QUALYS_PLATFORM: 'EU1' },
      gamma: { QUALYS_PLATFORM: 'US1' },
    };
    for (const [id, t] of Object.entries(nested)) {
      for (const f of Object.values(resourcesOf(t, 'AWS::Lambda::Function'))) {
        const env = (f.Properties.Environment as { Variables: Json }).Variables;
        expect(env).toMatchObject({ ...want[id], QEXPORT_TENANT: id, QUALYS_HTTP_MAX_RETRIES: '3' });
        if (env.QEXPORT_PREFIX !== undefined) expect(env.QEXPORT_PREFIX).toBe(`qualys/${id}`);
        if (id !== 'acme') expect(env.QUALYS_CONCURRENCY).toBeUndefined();
        expect(JSON.stringify(env)).not.toMatch(/"QUALYS_(CLIENT_SECRET|PASSWORD|PCI_PASSWORD)"/);
      }
    }
  });

  it('a tenant stack receives only the shared bucket, keys, topic and queue from outside', () => {
    for (const t of Object.values(nested)) {
      const params = Object.keys((t.toJSON() as { Parameters: Json }).Parameters);
      for (const p of params) {
        expect(p).toMatch(
          /^(BucketArn|BucketName|referencetoQualysExport(ScheduleDeadLetterQueue|AlarmTopic|AlarmTopicKey|DataKey)[0-9A-F]{8}(Arn|Ref))$/,
        );
      }
    }
  });

  describe('isolation: what each role may do, evaluated on the synthesized policies', () => {
    const others = (id: string) => Object.keys(nested).filter((o) => o !== id);
    const key = (tenant: string, rest: string) => `${BUCKET_ARN}/qualys/${tenant}/${rest}`;

    it.each(['acme', 'beta', 'gamma'])(
      "%s: its exporters write their own prefix and no other tenant's",
      (id) => {
        const t = nested[id]!;
        const r = stack.tenantStacks[id]!.resources;
        for (const m of r.tenant.modules) {
          const role = lidIn(r.exporters[m]!.role! as never);
          const st = policyStatements(t)
            .filter((p) => p.roles.includes(role))
            .map((p) => p.statement);
          // Its own keys: yes.
          expect(allows(st, 's3:PutObject', key(id, `${m}/dt=2026-01-01/run=r1/part-00000.ndjson.gz`))).toBe(
            true,
          );
          expect(allows(st, 's3:PutObject', key(id, `_state/${m}.json`))).toBe(true);
          expect(allows(st, 's3:GetObject', key(id, `_state/${m}.json`))).toBe(true);
          expect(allows(st, 's3:PutObject', key(id, `manifests/module=${m}/dt=2026-01-01/r1.json`))).toBe(
            true,
          );
          expect(allows(st, 's3:ListBucket', BUCKET_ARN, `qualys/${id}/${m}/dt=2026-01-01/run=r1/`)).toBe(
            true,
          );
          // Any other tenant's, or the single-tenant layout's: no.
          for (const other of others(id)) {
            for (const k of [
              `${m}/dt=2026-01-01/run=r1/part-00000.ndjson.gz`,
              `_state/${m}.json`,
              `manifests/module=${m}/x.json`,
            ]) {
              for (const action of ['s3:PutObject', 's3:GetObject', 's3:DeleteObject']) {
                expect(allows(st, action, key(other, k)), `${id} ${action} ${other}/${k}`).toBe(false);
              }
            }
            expect(allows(st, 's3:ListBucket', BUCKET_ARN, `qualys/${other}/${m}/`)).toBe(false);
          }
          expect(
            allows(st, 's3:PutObject', `${BUCKET_ARN}/qualys/${m}/dt=2026-01-01/run=r1/part-00000.ndjson.gz`),
          ).toBe(false);
          expect(allows(st, 's3:ListBucket', BUCKET_ARN, 'qualys/')).toBe(false);
        }
      },
    );

    it("no role of a tenant can touch another tenant's keys", () => {
      for (const [id, t] of Object.entries(nested)) {
        const st = policyStatements(t).map((p) => p.statement);
        for (const other of others(id)) {
          for (const action of ['s3:PutObject', 's3:GetObject', 's3:DeleteObject']) {
            expect(
              allows(st, action, key(other, 'edr-events/dt=2026-01-01/run=r1/part-00000.ndjson.gz')),
            ).toBe(false);
          }
        }
      }
    });

    it("a tenant's secrets are read only by its own functions: by reference, never by name or wildcard", () => {
      for (const [id, t] of Object.entries(nested)) {
        const own = new Set(Object.keys(resourcesOf(t, 'AWS::SecretsManager::Secret')));
        const r = stack.tenantStacks[id]!.resources;
        for (const { statement, roles } of policyStatements(t)) {
          const sm = asArray(statement.Action).filter((a) => a.startsWith('secretsmanager:'));
          if (!sm.length) continue;
          for (const res of asArray(statement.Resource)) {
            expect(res, `${id}: ${JSON.stringify(statement)}`).toEqual({ Ref: expect.any(String) });
            expect(own.has((res as { Ref: string }).Ref)).toBe(true);
          }
          // ... and only by roles of this tenant's functions.
          const fnRoles = [r.tokenRefresh, ...Object.values(r.exporters)]
            .filter((f) => f !== undefined)
            .map((f) => lidIn(f.role! as never));
          for (const role of roles) expect(fnRoles).toContain(role);
        }
        // The credentials secret: token-refresh only. The PCI secret: the PCI exporter only.
        const readers = (secret: { node: { defaultChild?: unknown } } | undefined) =>
          secret
            ? policyStatements(t)
                .filter(
                  (p) => JSON.stringify(p.statement.Resource) === JSON.stringify({ Ref: lidIn(secret) }),
                )
                .filter((p) => asArray(p.statement.Action).includes('secretsmanager:GetSecretValue'))
                .flatMap((p) => p.roles)
            : [];
        expect(readers(r.credentialsSecret)).toEqual(
          r.tokenRefresh ? [lidIn(r.tokenRefresh.role! as never)] : [],
        );
        expect(readers(r.pciCredentialsSecret)).toEqual(
          r.exporters['pci-scans'] ? [lidIn(r.exporters['pci-scans'].role! as never)] : [],
        );
      }
    });

    it("'*' resources only in each tenant's X-Ray and log-delivery policies, which hold no data actions", () => {
      for (const t of Object.values(nested)) {
        for (const { statement } of policyStatements(t)) {
          if (!asArray(statement.Resource).includes('*')) continue;
          for (const a of asArray(statement.Action)) expect(a).toMatch(/^(xray|logs):/);
        }
      }
    });

    it('each loop invokes its own exporter; each scheduler role starts its own loops and refresh', () => {
      for (const [id, t] of Object.entries(nested)) {
        const r = stack.tenantStacks[id]!.resources;
        for (const m of r.tenant.modules) {
          const d = definitionOf(
            t,
            lidIn(r.stateMachines[m]!),
            (i) => `getatt:${(i as { 'Fn::GetAtt': string[] })['Fn::GetAtt'].join('.')}`,
          );
          expect(d.States.Invoke!.Resource).toBe(`getatt:${lidIn(r.exporters[m]!)}.Arn`);
        }
        const scheduler = lidIn(r.schedulerRole);
        const starts = policyStatements(t)
          .filter((p) => p.roles.includes(scheduler))
          .map((p) => p.statement)
          .filter((s) => asArray(s.Action).some((a) => a.startsWith('states:') || a.startsWith('lambda:')));
        const own = new Set([
          ...Object.keys(resourcesOf(t, 'AWS::StepFunctions::StateMachine')),
          ...Object.keys(resourcesOf(t, 'AWS::Lambda::Function')),
        ]);
        for (const s of starts) {
          for (const res of asArray(s.Resource)) {
            const target = JSON.stringify(res).match(/"(?:Ref|Fn::GetAtt)":\[?"([A-Za-z0-9]+)"/)![1]!;
            expect(own.has(target), JSON.stringify(res)).toBe(true);
          }
        }
      }
    });
  });

  it("each tenant's schedules start its own loops at its own rates, into the shared dead-letter queue", () => {
    const beta = nested.beta!;
    const r = stack.tenantStacks.beta!.resources;
    beta.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(2 hours)',
      Target: Match.objectLike({
        Arn: { Ref: lidIn(r.stateMachines['edr-events']!) },
        DeadLetterConfig: {
          Arn: { Ref: Match.stringLikeRegexp('^referencetoQualysExportScheduleDeadLetterQueue') },
        },
      }),
    });
    beta.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(20 minutes)',
      Target: Match.objectLike({ Arn: { 'Fn::GetAtt': [lidIn(r.tokenRefresh!), 'Arn'] } }),
    });
    beta.resourceCountIs('AWS::Scheduler::Schedule', 3);
    nested.gamma!.resourceCountIs('AWS::Scheduler::Schedule', 1);
  });

  it("each tenant's alarms watch its own metrics (Tenant dimension) and its own state machines", () => {
    for (const [id, t] of Object.entries(nested)) {
      const r = stack.tenantStacks[id]!.resources;
      const alarms = Object.values(resourcesOf(t, 'AWS::CloudWatch::Alarm')).map((a) => a.Properties);
      const perModule = 6;
      // One more (ClockSkew) for each module whose windows end at now.
      const skewed = r.tenant.modules.filter((m) => (CLOCK_SKEW_MODULES as readonly string[]).includes(m));
      expect(alarms).toHaveLength(
        perModule * r.tenant.modules.length + skewed.length + (r.tokenRefresh ? 2 : 0),
      );
      for (const a of alarms) {
        expect(a.AlarmName).toMatch(new RegExp(`^QualysExport-${id}-`));
        const text = JSON.stringify(a);
        // Every QualysExport metric of the alarm carries this tenant, never another.
        const dims = [...text.matchAll(/"Namespace":"QualysExport"/g)].length;
        if (dims)
          expect([...text.matchAll(new RegExp(`\\{"Name":"Tenant","Value":"${id}"\\}`, 'g'))]).toHaveLength(
            dims,
          );
        for (const other of Object.keys(nested).filter((o) => o !== id))
          expect(text).not.toContain(`"${other}"`);
      }
      for (const m of r.tenant.modules) {
        const failed = alarms.find((a) => a.AlarmName === `QualysExport-${id}-${pascal(m)}ExecutionsFailed`)!;
        expect(JSON.stringify(failed.Metrics)).toContain(lidIn(r.stateMachines[m]!));
        const noRun = alarms.find((a) => a.AlarmName === `QualysExport-${id}-${pascal(m)}NoRunCompleted`)!;
        expect(sortDims(noRun.Dimensions)).toEqual([
          { Name: 'Module', Value: m },
          { Name: 'Tenant', Value: id },
        ]);
      }
      if (r.tokenRefresh) {
        const age = alarms.find((a) => a.AlarmName === `QualysExport-${id}-TokenAge`)!;
        expect(sortDims(age.Dimensions)).toEqual([
          { Name: 'Function', Value: 'token-refresh' },
          { Name: 'Tenant', Value: id },
        ]);
      }
      t.hasResourceProperties('AWS::CloudWatch::Dashboard', {
        DashboardName: `QualysExport-${id}-qualys-export`,
      });
    }
  });

  it("every alarm notifies the shared topic; a tenant's alarmEmail gets a topic of its own", () => {
    for (const [id, t] of Object.entries(nested)) {
      const topicParam = Object.keys((t.toJSON() as { Parameters: Json }).Parameters).find((p) =>
        /^referencetoQualysExportAlarmTopic[0-9A-F]{8}Ref$/.test(p),
      )!;
      const own = Object.keys(resourcesOf(t, 'AWS::SNS::Topic'));
      for (const a of Object.values(resourcesOf(t, 'AWS::CloudWatch::Alarm'))) {
        expect(a.Properties.AlarmActions).toEqual([{ Ref: topicParam }, ...own.map((o) => ({ Ref: o }))]);
      }
      expect(own).toHaveLength(id === 'beta' ? 1 : 0);
    }
    nested.beta!.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'beta-secops@example.com',
    });
    // Encrypted with the shared alarm key, whose policy lets CloudWatch publish.
    nested.beta!.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: { Ref: Match.stringLikeRegexp('^referencetoQualysExportAlarmTopicKey') },
    });
  });

  it('one Glue table per module covers every tenant, with tenant as a projected partition', () => {
    const glue = Object.values(resourcesOf(root, 'AWS::Glue::Table')).map(
      (t) =>
        t.Properties.TableInput as {
          Name: string;
          TableType: string;
          PartitionKeys: Json[];
          Parameters: Json;
          ViewOriginalText?: string;
        },
    );
    const external = glue.filter((t) => t.TableType === 'EXTERNAL_TABLE');
    // The same tables and views as a single-tenant stack: their number does not grow with tenants.
    expect(external.map((t) => t.Name).sort()).toEqual(
      [...MODULES.map((m) => m.replace(/-/g, '_')), 'manifests'].sort(),
    );
    expect(glue.length).toBe(resourceCountOf(synth().template, 'AWS::Glue::Table'));
    const tenantProjection = {
      'projection.enabled': 'true',
      'projection.tenant.type': 'enum',
      'projection.tenant.values': 'acme,beta,gamma',
    };
    const bucket = `s3://ref:${lidIn(stack.bucket as never)}`;
    for (const input of external) {
      expect(input.Parameters).toMatchObject(tenantProjection);
      const template = resolveCfn(input.Parameters['storage.location.template'], {});
      if (input.Name === 'manifests') {
        expect(input.PartitionKeys.map((k) => k.Name)).toEqual(['tenant', 'module', 'dt']);
        expect(template).toBe(`${bucket}/qualys/\${tenant}/manifests/module=\${module}/dt=\${dt}/`);
        continue;
      }
      expect(input.PartitionKeys).toEqual([
        { Name: 'tenant', Type: 'string' },
        { Name: 'dt', Type: 'string' },
      ]);
      const module = MODULES.find((m) => m.replace(/-/g, '_') === input.Name)!;
      expect(template).toBe(`${bucket}/qualys/\${tenant}/${module}/dt=\${dt}/`);
    }
    // The complete-runs views join a record to its manifest within its tenant, and "latest" is per tenant.
    const views = glue.filter((t) => t.TableType === 'VIRTUAL_VIEW');
    expect(views.length).toBeGreaterThan(0);
    for (const v of views) {
      const def = decodePrestoView(v.ViewOriginalText!);
      expect(def.columns.map((c) => c.name)).toContain('tenant');
      const currentId: Record<string, string> = {
        mobile_assets_latest: 'ID',
        vmdr_detections_latest: 'ID',
        knowledgebase_latest: 'QID',
      };
      if (currentId[v.Name]) {
        // The current state of each record within its tenant: the tenant's latest snapshot, versions per tenant + id.
        expect(def.originalSql).toContain('AND r."tenant" = s.run_tenant');
        expect(def.originalSql).toContain('PARTITION BY run_tenant ORDER BY run_end_text DESC');
        expect(def.originalSql).toContain(`PARTITION BY r."tenant", r."${currentId[v.Name]}"`);
        continue;
      }
      if (v.Name === 'vmdr_detections_kb') {
        // A detection joins the KnowledgeBase of its own tenant.
        expect(def.originalSql).toContain('AND k."tenant" = h."tenant"');
        continue;
      }
      expect(def.originalSql).toContain('AND r."tenant" = m.run_tenant');
      if (v.Name.endsWith('_latest')) expect(def.originalSql).toContain('PARTITION BY "tenant"');
    }
  });

  it('cdk-nag: clean, and every acknowledgement matches a finding on its own construct', () => {
    const { stack: s, findings } = unacknowledged({ ...cdkJson.context, tenants: THREE });
    // Findings inside every tenant's nested stack are reported (cdk-nag walks the whole construct tree).
    for (const id of ['Acme', 'Beta', 'Gamma']) {
      expect(findings.some((f) => f.path.startsWith(`QualysExport/Tenant${id}/`))).toBe(true);
    }
    expectEveryAcknowledgementMatches(s, findings);
    // With them, synthesis is clean (synth() throws on any unacknowledged finding).
    expect(() => synth({ tenants: THREE })).not.toThrow();
    expect(() =>
      synth({
        tenants: THREE,
        bucketName: 'an-existing-bucket',
        bucketKmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      }),
    ).not.toThrow();
  });
});

describe('N tenants: CloudFormation limits', () => {
  it('resources per tenant and in the root stay far below 500 for 30 full tenants', () => {
    const n = 30;
    const tenants = Array.from({ length: n }, (_, i) => ({ id: `t${i}` }));
    const { stack, template } = synth({ tenants });
    const rootCount = Object.keys(template.toJSON().Resources).length;
    const perTenant = Object.values(stack.tenantStacks).map(
      (t) => Object.keys(Template.fromStack(t).toJSON().Resources).length,
    );
    const one = Object.keys(synth({ tenants: [{ id: 't0' }] }).template.toJSON().Resources).length;
    // The root grows by exactly one resource (the nested stack) per tenant.
    expect(rootCount - one).toBe(n - 1);
    const fixed = one - 1;
    expect(new Set(perTenant).size).toBe(1);
    expect(perTenant[0]).toBeLessThan(120);
    // The figures docs/deploy.md states.
    console.info(
      `resources: ${perTenant[0]} per tenant (all six modules, own nested stack), root ${fixed} + 1 per tenant; ` +
        `the root's 500-resource limit allows ${500 - fixed} tenants`,
    );
    expect(500 - fixed).toBeGreaterThan(400);
    // Outputs and parameters stay within CloudFormation's limits too (200 each per template).
    expect(Object.keys(template.toJSON().Outputs).length).toBeLessThan(10);
  });
});
