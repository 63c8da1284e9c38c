import { Stack, Validations, type CfnElement } from 'aws-cdk-lib';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { IConstruct } from 'constructs';
import type { FunctionKit } from './functions';
import type { QualysExportStack } from './stack';
import { ATHENA_RESULTS } from './storage';
import type { TenantResources } from './tenant';

/** One accepted cdk-nag (AwsSolutions) finding, on the construct it was written for, with its reason. */
export interface Acknowledgement {
  construct: IConstruct;
  id: string;
  reason: string;
}

const RULE = 'AwsSolutions::AwsSolutions-';

/**
 * The cdk-nag findings we accept. Each names one finding on one construct (its subtree: a role and its default
 * policy), never the stack, so the same finding anywhere else still fails the synth. In particular no role's
 * policy has an acknowledged `Resource::*`: only the two policies holding the '*'-only X-Ray and log-delivery
 * actions do.
 */
export function acknowledgedFindings(stack: QualysExportStack): Acknowledgement[] {
  const out: Acknowledgement[] = [];
  for (const tenant of stack.tenants) out.push(...tenantFindings(stack, tenant));
  // The root's own kit when tenants are listed (the single tenant's kit is acknowledged with the tenant).
  if (stack.settings.multiTenant) out.push(...kitFindings(stack.rootKit, ''));
  if (stack.partitionStart.fn) out.push(...functionFindings(stack.partitionStart.fn, ''));
  out.push({
    construct: stack.scheduleDlq,
    id: `${RULE}SQS3`,
    reason:
      'This queue is itself the dead-letter queue of the EventBridge Scheduler schedules; a dead-letter queue of its own would have nothing to catch.',
  });
  const bucketArn = bucketArnAsPrinted(stack, stack);
  const prefix = stack.settings.prefix;
  out.push(
    {
      construct: stack.analytics.readerPolicy,
      id: `${RULE}IAM5[Resource::${bucketArn}/${prefix}/*]`,
      reason: `Readers of the exports read every object under the export prefix (${prefix}/): one key per part and run, created as the exports run, so no list of keys exists in advance. Writing is not granted there.`,
    },
    {
      construct: stack.analytics.readerPolicy,
      id: `${RULE}IAM5[Resource::${bucketArn}/${prefix}/${ATHENA_RESULTS}/*]`,
      reason: `Athena writes each query's results (a key per query id) under the workgroup's result location (${prefix}/${ATHENA_RESULTS}/), as the reader who runs the query.`,
    },
  );
  return out;
}

/**
 * How cdk-nag prints the bucket ARN in the template of `scope`: the BucketArn parameter of a tenant's nested
 * stack (TenantStack), else the bucket's own GetAtt, or the literal ARN of an existing bucket.
 */
function bucketArnAsPrinted(stack: QualysExportStack, scope: IConstruct): string {
  const lid = (c: IConstruct) => Stack.of(c).getLogicalId(c.node.defaultChild as CfnElement);
  if (Stack.of(scope) !== stack) return '<BucketArn>';
  return stack.bucket.node.defaultChild
    ? `<${lid(stack.bucket)}.Arn>`
    : `arn:<AWS::Partition>:s3:::${stack.bucket.bucketName}`;
}

/** The '*'-only actions of a kit's policies (X-Ray, and the VPC network interfaces). */
function kitFindings(kit: FunctionKit, of: string): Acknowledgement[] {
  return [
    {
      construct: kit.xrayPolicy,
      id: `${RULE}IAM5[Resource::*]`,
      reason:
        'X-Ray trace submission (xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) has no resource-level permissions: AWS requires Resource "*". This policy holds only those actions.',
    },
    ...(kit.network
      ? [
          {
            construct: kit.network.policy,
            id: `${RULE}IAM5[Resource::*]`,
            reason: `Lambda creates, describes and deletes the network interfaces of the functions${of} in the configured subnets with the function role's permissions: the actions of AWSLambdaVPCAccessExecutionRole (ec2:*NetworkInterface*, DescribeSubnets, Assign/UnassignPrivateIpAddresses), which AWS documents on Resource "*". This policy holds only those actions.`,
          },
        ]
      : []),
  ];
}

/** What every function of the product is acknowledged for: its logging role and its pinned runtime. */
function functionFindings(f: NodejsFunction, of: string): Acknowledgement[] {
  return [
    {
      construct: f,
      id: `${RULE}IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]`,
      reason: `Used by ${f.node.id}${of} for writing its CloudWatch Logs only; all data access is granted by explicit, scoped statements.`,
    },
    {
      construct: f,
      id: `${RULE}L1`,
      reason:
        'Pinned to nodejs22.x on purpose: the code is tested on Node 20/22 and bundled for node22; a newer runtime is adopted after testing.',
    },
  ];
}

/** The findings accepted on one tenant's resources (in the stack itself, or in the tenant's nested stack). */
function tenantFindings(stack: QualysExportStack, t: TenantResources): Acknowledgement[] {
  const lid = (c: IConstruct) => Stack.of(c).getLogicalId(c.node.defaultChild as CfnElement);
  const bucketArn = bucketArnAsPrinted(stack, t.scope);
  const of = t.tenant.id ? ` of tenant ${t.tenant.id}` : '';
  const functions = [
    ...(t.tokenRefresh ? [t.tokenRefresh] : []),
    ...t.tenant.modules.map((m) => t.exporters[m]!),
  ];
  const out: Acknowledgement[] = [
    ...kitFindings(t.kit, of),
    {
      construct: t.logDeliveryPolicy,
      id: `${RULE}IAM5[Resource::*]`,
      reason:
        'Step Functions log delivery to CloudWatch Logs (logs:*LogDelivery*, PutResourcePolicy, DescribeResourcePolicies, DescribeLogGroups) supports Resource "*" only. This policy holds only those actions.',
    },
  ];
  if (t.credentialsSecret) {
    out.push({
      construct: t.credentialsSecret,
      id: `${RULE}SMG4`,
      reason: `Holds Qualys-issued OIDC client credentials${of} that only the customer can rotate, in Qualys (docs/credentials.md); Secrets Manager has no rotation function for them.`,
    });
  }
  if (t.pciCredentialsSecret) {
    out.push({
      construct: t.pciCredentialsSecret,
      id: `${RULE}SMG4`,
      reason: `Holds the PCI Merchant account password${of}, changed by the customer in Qualys PCI (docs/credentials.md); Secrets Manager cannot rotate it.`,
    });
  }
  if (t.vmCredentialsSecret) {
    out.push({
      construct: t.vmCredentialsSecret,
      id: `${RULE}SMG4`,
      reason: `Holds the password of the Qualys user${of} the API server exports authenticate as, changed by the customer in Qualys (docs/credentials.md); Secrets Manager cannot rotate it.`,
    });
  }
  if (t.tokenSecret) {
    out.push({
      construct: t.tokenSecret,
      id: `${RULE}SMG4`,
      reason:
        'Holds a short-lived Qualys JWT that the token-refresh function replaces before it expires (every 30 minutes by default): it is rotated by design, not by a rotation schedule.',
    });
  }
  for (const f of functions) out.push(...functionFindings(f, of));
  for (const m of t.tenant.modules) {
    const f = t.exporters[m]!;
    out.push(
      {
        construct: f,
        id: `${RULE}IAM5[Resource::${bucketArn}/${t.dataPrefix}/${m}/*]`,
        reason: `The ${m} exporter${of} writes (and removes stale parts of) new object keys per run under its own prefix only (${t.dataPrefix}/${m}/).`,
      },
      {
        construct: f,
        id: `${RULE}IAM5[Resource::${bucketArn}/${t.dataPrefix}/_state/${m}/*]`,
        reason: `The ${m} exporter${of} keeps objects named per run beside its state file, under its own ${t.dataPrefix}/_state/${m}/ only (EDR's overlap fingerprints), and removes them once unneeded.`,
      },
      {
        construct: f,
        id: `${RULE}IAM5[Resource::${bucketArn}/${t.dataPrefix}/manifests/module=${m}/*]`,
        reason: `The ${m} exporter${of} writes one catalogue manifest per run under its own module's catalogue prefix only.`,
      },
      {
        construct: t.stateMachines[m]!,
        id: `${RULE}IAM5[Resource::<${lid(f)}.Arn>:*]`,
        reason: `Added by the Step Functions LambdaInvoke task: the ${m} loop${of} may invoke versions/aliases of its own exporter only.`,
      },
    );
  }
  if (t.tokenRefresh && t.tenant.tokenRefreshSchedule !== 'disabled') {
    out.push({
      construct: t.schedulerRole,
      id: `${RULE}IAM5[Resource::<${lid(t.tokenRefresh)}.Arn>:*]`,
      reason: `Added by the EventBridge Scheduler Lambda target: the scheduler may invoke versions/aliases of the token-refresh function${of} only.`,
    });
  }
  return out;
}

export function applySuppressions(stack: QualysExportStack): void {
  for (const a of acknowledgedFindings(stack)) {
    Validations.of(a.construct).acknowledge({ id: a.id, reason: a.reason });
  }
}
