import { CfnOutput, CfnParameter, Duration, NestedStack } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { API_MODULES, ENV, GATEWAY_MODULES, type ModuleName } from '../shared/config';
import { ContextError, pascal, tenantPrefix, type StackSettings, type TenantSettings } from './context';
import { functionKit, productFunction, type FunctionKit, type FunctionNetwork } from './functions';
import { EXPORTER_MEMORY_MB, EXPORTER_SEMI_SPACE_MB } from './lambda-runtime';
import { exportLoop } from './loop';
import { allowAlarmsToPublish, observability } from './observability';
import { s3KeyStatement } from './storage';

export { usesProxy } from './functions';

/** Environment variable of the PCI exporter naming the PCI Merchant credentials secret. */
export const PCI_CREDENTIALS_SECRET_ENV = 'QEXPORT_PCI_CREDENTIALS_SECRET_ID';
/** Environment variable of the API server exporters naming the VM credentials secret (Basic auth). */
export const VM_CREDENTIALS_SECRET_ENV = ENV.vmCredentialsSecretId;

/** Does a module call the API server (vmdr-detections, knowledgebase)? */
const isApiModule = (m: ModuleName) => (API_MODULES as readonly string[]).includes(m);
/** Does a module send the gateway's token: the gateway modules, and the API server ones with bearer auth. */
export function usesGatewayToken(m: ModuleName, t: Pick<TenantSettings, 'exporterEnv'>): boolean {
  if ((GATEWAY_MODULES as readonly string[]).includes(m)) return true;
  return isApiModule(m) && t.exporterEnv[ENV.vmAuthMethod]?.trim().toLowerCase() === 'bearer';
}
/** Environment variable naming the tenant: the functions add it to their metrics as the `Tenant` dimension. */
export const TENANT_ENV = ENV.tenant;

/**
 * What every tenant shares: the bucket (and the ARN of the key it encrypts with, when it is a customer-managed
 * one), the alarm topic, the schedules' dead-letter queue, and the subnets and security groups of the functions.
 */
export interface SharedResources {
  bucket: s3.IBucket;
  dataKeyArn?: string;
  alarmTopic: sns.Topic;
  scheduleDlq: sqs.IQueue;
  network?: FunctionNetwork;
}

/** Everything one tenant owns. Optional members exist only when a module the tenant exports needs them. */
export interface TenantResources {
  tenant: TenantSettings;
  /** The stack (implicit tenant) or nested stack (listed tenant) holding these resources. */
  scope: Construct;
  /** `<prefix>` (implicit tenant) or `<prefix>/<id>`: its state files, data and catalogue manifests. */
  dataPrefix: string;
  /** Gateway credentials and the token (only when the tenant exports a gateway module). */
  credentialsSecret?: secretsmanager.Secret;
  tokenSecret?: secretsmanager.Secret;
  tokenRefresh?: NodejsFunction;
  /** PCI Merchant credentials (only when the tenant exports pci-scans). */
  pciCredentialsSecret?: secretsmanager.Secret;
  /** The Qualys user of the API server modules (only when the tenant exports one with Basic auth). */
  vmCredentialsSecret?: secretsmanager.Secret;
  exporters: Partial<Record<ModuleName, NodejsFunction>>;
  stateMachines: Partial<Record<ModuleName, sfn.StateMachine>>;
  schedulerRole: iam.Role;
  /** Log retention, X-Ray policy and, in a VPC, the network-interface policy of the tenant's functions. */
  kit: FunctionKit;
  xrayPolicy: iam.Policy;
  logDeliveryPolicy: iam.Policy;
  alarms: cloudwatch.Alarm[];
  /** The tenant's own alarm topic (when it has an `alarmEmail`); every alarm also goes to the shared topic. */
  tenantTopic?: sns.Topic;
}

export interface TenantProps {
  settings: StackSettings;
  tenant: TenantSettings;
  shared: SharedResources;
  /** The (root) stack's name: resource names start with it. */
  stackName: string;
}

/** Longest names AWS accepts for the named resources. */
const MAX_FUNCTION_NAME = 64;
const MAX_STATE_MACHINE_NAME = 80;

/**
 * Builds one tenant into `scope`. The implicit tenant (no id) is built into the stack itself with the
 * construct ids of the single-tenant releases, so its logical ids, names and template are unchanged. A listed
 * tenant is built into its own nested stack; its functions, state machines and secrets get names that start
 * with `<stack name>-<id>` (`<stack name>/<id>/` for secrets), so an operator can address them without
 * looking up outputs.
 */
export function buildTenant(scope: Construct, props: TenantProps): TenantResources {
  const { settings: s, tenant: t, shared } = props;
  const id = t.id;
  const baseName = id ? `${props.stackName}-${id}` : props.stackName;
  const dataPrefix = tenantPrefix(s.prefix, t);
  const enabled = (m: ModuleName) => t.modules.includes(m);
  const gateway = t.modules.some((m) => usesGatewayToken(m, t));
  const vmBasic = t.modules.some((m) => isApiModule(m) && !usesGatewayToken(m, t));
  const named = <T>(value: T, max: number, what: string): T | undefined => {
    if (!id) return undefined;
    const v = String(value);
    if (v.length > max) {
      throw new ContextError(
        `the ${what} name '${v}' is longer than AWS allows (${max}): shorten context 'stackName' or '${t.key}.id'`,
      );
    }
    return value;
  };

  // ------------------------------------------------------------------ secrets
  const secretName = (kind: string) => (id ? `${props.stackName}/${id}/${kind}` : undefined);
  const forTenant = id ? ` (tenant ${id})` : '';
  const credentialsSecret = gateway
    ? new secretsmanager.Secret(scope, 'CredentialsSecret', {
        secretName: secretName('credentials'),
        description: `qualys-export: Qualys credentials${forTenant} (JSON, see docs/credentials.md). Read only by token-refresh.`,
        generateSecretString: {
          secretStringTemplate: JSON.stringify({ method: 'qualys-oidc', clientId: 'REPLACE_ME' }),
          generateStringKey: 'clientSecret',
        },
      })
    : undefined;
  const pciCredentialsSecret = enabled('pci-scans')
    ? new secretsmanager.Secret(scope, 'PciCredentialsSecret', {
        secretName: secretName('pci-credentials'),
        description: `qualys-export: PCI Merchant account credentials${forTenant} (JSON, see docs/credentials.md). Read only by the pci-scans exporter.`,
        generateSecretString: {
          secretStringTemplate: JSON.stringify({ method: 'basic', username: 'REPLACE_ME' }),
          generateStringKey: 'password',
        },
      })
    : undefined;
  const vmCredentialsSecret = vmBasic
    ? new secretsmanager.Secret(scope, 'VmCredentialsSecret', {
        secretName: secretName('vm-credentials'),
        description: `qualys-export: the Qualys user of the API server exports${forTenant} (JSON {"username","password"}, see docs/credentials.md). Read only by the vmdr-detections and knowledgebase exporters.`,
        generateSecretString: {
          secretStringTemplate: JSON.stringify({ username: 'REPLACE_ME' }),
          generateStringKey: 'password',
        },
      })
    : undefined;
  const tokenSecret = gateway
    ? new secretsmanager.Secret(scope, 'TokenSecret', {
        secretName: secretName('token'),
        description: `qualys-export: the current Qualys JWT${forTenant}, written by the token-refresh function.`,
      })
    : undefined;
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
  if (t.platform) qualysEnv[ENV.platform] = t.platform;
  if (t.gatewayUrl) qualysEnv[ENV.gatewayUrl] = t.gatewayUrl;
  if (t.pciUrl) qualysEnv[ENV.pciUrl] = t.pciUrl;
  if (t.apiUrl) qualysEnv[ENV.apiUrl] = t.apiUrl;
  if (id) qualysEnv[TENANT_ENV] = id;

  // The X-Ray (and, in a VPC, network-interface) actions AWS offers on Resource '*' only, in policies of their
  // own attached to every function (infra/functions.ts).
  const kit = functionKit(scope, s.logRetentionDays, shared.network);
  const xrayPolicy = kit.xrayPolicy;
  // Step Functions log delivery to CloudWatch Logs: also '*'-only actions (vended logs).
  const logDeliveryPolicy = new iam.Policy(scope, 'LogDeliveryPolicy', {
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

  let tokenRefresh: NodejsFunction | undefined;
  if (credentialsSecret && tokenSecret) {
    tokenRefresh = productFunction(scope, kit, {
      id: 'TokenRefreshFunction',
      entry: 'token-refresh.ts',
      memoryMb: 256,
      timeout: Duration.minutes(1),
      env: {
        ...qualysEnv,
        ...t.exporterEnv,
        [ENV.credentialsSecretId]: credentialsSecret.secretArn,
        [ENV.tokenSecretId]: tokenSecret.secretArn,
      },
      functionName: named(`${baseName}-token-refresh`, MAX_FUNCTION_NAME, 'function'),
    });
    readSecret(credentialsSecret, tokenRefresh);
    readSecret(tokenSecret, tokenRefresh);
    tokenRefresh.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:PutSecretValue'],
        resources: [tokenSecret.secretArn],
      }),
    );
  }

  const bucket = shared.bucket;
  const exporters: Partial<Record<ModuleName, NodejsFunction>> = {};
  for (const module of t.modules) {
    const token = usesGatewayToken(module, t);
    const vmSecret = isApiModule(module) && !token ? vmCredentialsSecret : undefined;
    const f = productFunction(scope, kit, {
      id: `Export${pascal(module)}Function`,
      entry: `export-${module}.ts`,
      memoryMb: EXPORTER_MEMORY_MB,
      timeout: Duration.minutes(15),
      env: {
        ...qualysEnv,
        ...t.exporterEnv,
        [ENV.bucket]: bucket.bucketName,
        [ENV.prefix]: dataPrefix,
        // Only modules that send the gateway token get it: PCI Merchant and (with Basic) the API server modules
        // authenticate with their own accounts.
        ...(tokenSecret && tokenRefresh && token
          ? {
              [ENV.tokenSecretId]: tokenSecret.secretArn,
              [ENV.tokenRefreshFunction]: tokenRefresh.functionName,
            }
          : {}),
        ...(module === 'pci-scans' && pciCredentialsSecret
          ? { [PCI_CREDENTIALS_SECRET_ENV]: pciCredentialsSecret.secretArn }
          : {}),
        ...(vmSecret ? { [VM_CREDENTIALS_SECRET_ENV]: vmSecret.secretArn } : {}),
      },
      functionName: named(`${baseName}-${module}`, MAX_FUNCTION_NAME, 'function'),
      semiSpaceMb: EXPORTER_SEMI_SPACE_MB,
    });
    if (tokenSecret && token) readSecret(tokenSecret, f);
    if (module === 'pci-scans' && pciCredentialsSecret) readSecret(pciCredentialsSecret, f);
    if (vmSecret) readSecret(vmSecret, f);
    if (tokenRefresh && token) {
      // The exporter invokes token-refresh by its unqualified name: exactly that ARN, no versions or aliases.
      f.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['lambda:InvokeFunction'],
          resources: [tokenRefresh.functionArn],
        }),
      );
    }
    for (const st of exporterS3Statements(
      bucket.bucketArn,
      (k) => bucket.arnForObjects(k),
      dataPrefix,
      module,
    )) {
      f.addToRolePolicy(st);
    }
    // SSE-KMS: writing objects (multipart included) and reading the state file, through S3 only.
    if (shared.dataKeyArn) f.addToRolePolicy(s3KeyStatement(shared.dataKeyArn));
    exporters[module] = f;
  }

  // ------------------------------------------------------------------ loops + schedules
  const schedulerRole = new iam.Role(scope, 'SchedulerRole', {
    assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com'),
    description: id
      ? `Lets EventBridge Scheduler start the qualys-export loops and the token refresh of tenant ${id}`
      : 'Lets EventBridge Scheduler start the qualys-export loops and the token refresh',
  });
  const targetOptions = {
    role: schedulerRole,
    input: scheduler.ScheduleTargetInput.fromObject({}),
    deadLetterQueue: shared.scheduleDlq,
    retryAttempts: 5,
    maxEventAge: Duration.hours(1),
  };
  const stateMachines: Partial<Record<ModuleName, sfn.StateMachine>> = {};
  for (const module of t.modules) {
    const sm = exportLoop(scope, pascal(module), {
      module,
      exporter: exporters[module]!,
      logRetentionDays: s.logRetentionDays,
      xrayPolicy,
      logDeliveryPolicy,
      stateMachineName: id
        ? named(`${baseName}-${module}`, MAX_STATE_MACHINE_NAME, 'state machine')!
        : `${baseName}-${module}`.slice(0, MAX_STATE_MACHINE_NAME),
    });
    stateMachines[module] = sm;
    const expr = t.schedules[module];
    if (expr !== 'disabled') {
      new scheduler.Schedule(scope, `Schedule${pascal(module)}`, {
        description: id ? `Starts the ${module} export of tenant ${id}` : `Starts the ${module} export`,
        schedule: scheduler.ScheduleExpression.expression(expr),
        target: new targets.StepFunctionsStartExecution(sm, targetOptions),
      });
    }
  }
  if (tokenRefresh && t.tokenRefreshSchedule !== 'disabled') {
    new scheduler.Schedule(scope, 'ScheduleTokenRefresh', {
      description: id
        ? `Keeps a valid Qualys token in the token secret of tenant ${id}`
        : 'Keeps a valid Qualys token in the token secret',
      schedule: scheduler.ScheduleExpression.expression(t.tokenRefreshSchedule),
      target: new targets.LambdaInvoke(tokenRefresh, targetOptions),
    });
  }

  // ------------------------------------------------------------------ alarms
  let tenantTopic: sns.Topic | undefined;
  if (id && t.alarmEmail) {
    tenantTopic = new sns.Topic(scope, 'TenantAlarmTopic', {
      displayName: `qualys-export alarms of tenant ${id}`,
      enforceSSL: true,
      // The shared alarm key: its policy already lets this stack's alarms encrypt what they publish.
      masterKey: shared.alarmTopic.masterKey,
    });
    allowAlarmsToPublish(tenantTopic, `${baseName}-`);
    tenantTopic.addSubscription(new subs.EmailSubscription(t.alarmEmail));
  }
  const alarms = observability(scope, {
    settings: s,
    tenant: t,
    baseName,
    topics: tenantTopic ? [shared.alarmTopic, tenantTopic] : [shared.alarmTopic],
    stateMachines,
    tokenRefresh,
    // The implicit tenant keeps the dead-letter alarm among its own (and on its dashboard), as it always had.
    scheduleDlq: id ? undefined : shared.scheduleDlq,
  });

  return {
    tenant: t,
    scope,
    dataPrefix,
    credentialsSecret,
    tokenSecret,
    tokenRefresh,
    pciCredentialsSecret,
    vmCredentialsSecret,
    exporters,
    stateMachines,
    schedulerRole,
    kit,
    xrayPolicy,
    logDeliveryPolicy,
    alarms,
    tenantTopic,
  };
}

/**
 * A listed tenant: its own nested stack, so each tenant's ~80 resources count against the nested stack's
 * CloudFormation limit (500) and the parent grows by one resource per tenant. The shared bucket, keys, topic
 * and queue reach it as parameters.
 */
export class TenantStack extends NestedStack {
  readonly resources: TenantResources;

  constructor(scope: Construct, props: TenantProps) {
    const shared = props.shared.bucket;
    super(scope, `Tenant${pascal(props.tenant.id!)}`, {
      description: `qualys-export tenant ${props.tenant.id}: secrets, functions, loops, schedules, alarms`,
      parameters: { BucketArn: shared.bucketArn, BucketName: shared.bucketName },
    });
    // The bucket arrives through parameters with fixed names, so the IAM resources of this tenant read
    // `<BucketArn>/<prefix>/<tenant>/…` wherever they are printed (cdk-nag acknowledgements name them).
    const bucket = s3.Bucket.fromBucketAttributes(this, 'SharedBucket', {
      bucketArn: new CfnParameter(this, 'BucketArn', { type: 'String' }).valueAsString,
      bucketName: new CfnParameter(this, 'BucketName', { type: 'String' }).valueAsString,
    });
    this.resources = buildTenant(this, { ...props, shared: { ...props.shared, bucket } });
    // In the tenant's own stack: the same output names as a single-tenant stack.
    tenantOutputs(this, this.resources);
  }
}

/**
 * A tenant's outputs, in `scope` (the stack for the implicit tenant, the nested stack for a listed one): its
 * secrets, token refresh, and each module's exporter and state machine, under the same names either way.
 */
export function tenantOutputs(scope: Construct, r: TenantResources): void {
  if (r.credentialsSecret)
    new CfnOutput(scope, 'CredentialsSecretArn', { value: r.credentialsSecret.secretArn });
  if (r.pciCredentialsSecret)
    new CfnOutput(scope, 'PciCredentialsSecretArn', { value: r.pciCredentialsSecret.secretArn });
  if (r.vmCredentialsSecret)
    new CfnOutput(scope, 'VmCredentialsSecretArn', { value: r.vmCredentialsSecret.secretArn });
  if (r.tokenSecret) new CfnOutput(scope, 'TokenSecretArn', { value: r.tokenSecret.secretArn });
  if (r.tokenRefresh)
    new CfnOutput(scope, 'TokenRefreshFunctionName', { value: r.tokenRefresh.functionName });
  for (const m of r.tenant.modules) {
    new CfnOutput(scope, `ExportFunction${pascal(m)}`, { value: r.exporters[m]!.functionName });
    new CfnOutput(scope, `StateMachine${pascal(m)}`, { value: r.stateMachines[m]!.stateMachineArn });
  }
  if (r.tenantTopic) new CfnOutput(scope, 'TenantAlarmTopicArn', { value: r.tenantTopic.topicArn });
}

/**
 * What an exporter may do in S3, exactly: its state file (read, conditional write), the objects it keeps beside
 * it (`_state/<module>/`: EDR's overlap fingerprints, written, read back and removed), its own data prefix (parts,
 * manifests, stale-part removal, aborted multipart uploads), its own catalogue manifests, and listing only
 * under those keys. `prefix` is the tenant's: `<prefix>` or `<prefix>/<tenant>`.
 */
export function exporterS3Statements(
  bucketArn: string,
  objectArn: (key: string) => string,
  prefix: string,
  module: ModuleName,
): iam.PolicyStatement[] {
  const stateKey = `${prefix}/_state/${module}.json`;
  const scratch = `${prefix}/_state/${module}/*`;
  return [
    new iam.PolicyStatement({
      sid: 'OwnState',
      actions: ['s3:GetObject', 's3:PutObject'],
      resources: [objectArn(stateKey)],
    }),
    new iam.PolicyStatement({
      sid: 'OwnStateObjects',
      actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
      resources: [objectArn(scratch)],
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
    // state object with 403 instead of 404. (AWS does not document whether an s3:prefix-conditioned ListBucket
    // counts for that answer; the engine is right either way: a 403 read is settled by the create-only write,
    // and a 403 on a file that write proves exists is reported as a permission problem.)
    new iam.PolicyStatement({
      sid: 'ListOwnKeys',
      actions: ['s3:ListBucket'],
      resources: [bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${prefix}/${module}/*`, stateKey, scratch] } },
    }),
  ];
}
