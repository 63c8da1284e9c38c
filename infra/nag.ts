import { Validations, type CfnElement } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { MODULES } from '../shared/config';
import type { QualysExportStack } from './stack';

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
export function acknowledgedFindings(stack: QualysExportStack, prefix: string): Acknowledgement[] {
  const lid = (c: IConstruct) => stack.getLogicalId(c.node.defaultChild as CfnElement);
  const bucketArn = stack.bucket.node.defaultChild
    ? `<${lid(stack.bucket)}.Arn>`
    : `arn:<AWS::Partition>:s3:::${stack.bucket.bucketName}`;
  const functions = [stack.tokenRefresh, ...MODULES.map((m) => stack.exporters[m])];
  const out: Acknowledgement[] = [
    {
      construct: stack.xrayPolicy,
      id: `${RULE}IAM5[Resource::*]`,
      reason:
        'X-Ray trace submission (xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) has no resource-level permissions: AWS requires Resource "*". This policy holds only those actions.',
    },
    {
      construct: stack.logDeliveryPolicy,
      id: `${RULE}IAM5[Resource::*]`,
      reason:
        'Step Functions log delivery to CloudWatch Logs (logs:*LogDelivery*, PutResourcePolicy, DescribeResourcePolicies, DescribeLogGroups) supports Resource "*" only. This policy holds only those actions.',
    },
    {
      construct: stack.credentialsSecret,
      id: `${RULE}SMG4`,
      reason:
        'Holds Qualys-issued OIDC client credentials that only the customer can rotate, in Qualys (docs/credentials.md); Secrets Manager has no rotation function for them.',
    },
    {
      construct: stack.pciCredentialsSecret,
      id: `${RULE}SMG4`,
      reason:
        'Holds the PCI Merchant account password, changed by the customer in Qualys PCI (docs/credentials.md); Secrets Manager cannot rotate it.',
    },
    {
      construct: stack.tokenSecret,
      id: `${RULE}SMG4`,
      reason:
        'Holds a short-lived Qualys JWT that the token-refresh function replaces before it expires (every 30 minutes by default): it is rotated by design, not by a rotation schedule.',
    },
    {
      construct: stack.scheduleDlq,
      id: `${RULE}SQS3`,
      reason:
        'This queue is itself the dead-letter queue of the EventBridge Scheduler schedules; a dead-letter queue of its own would have nothing to catch.',
    },
  ];
  for (const f of functions) {
    out.push(
      {
        construct: f,
        id: `${RULE}IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]`,
        reason: `Used by ${f.node.id} for writing its CloudWatch Logs only; all data access is granted by explicit, scoped statements.`,
      },
      {
        construct: f,
        id: `${RULE}L1`,
        reason:
          'Pinned to nodejs22.x on purpose: the code is tested on Node 20/22 and bundled for node22; a newer runtime is adopted after testing.',
      },
    );
  }
  for (const m of MODULES) {
    const f = stack.exporters[m];
    out.push(
      {
        construct: f,
        id: `${RULE}IAM5[Resource::${bucketArn}/${prefix}/${m}/*]`,
        reason: `The ${m} exporter writes (and removes stale parts of) new object keys per run under its own prefix only (${prefix}/${m}/).`,
      },
      {
        construct: f,
        id: `${RULE}IAM5[Resource::${bucketArn}/${prefix}/manifests/module=${m}/*]`,
        reason: `The ${m} exporter writes one catalogue manifest per run under its own module's catalogue prefix only.`,
      },
      {
        construct: stack.stateMachines[m],
        id: `${RULE}IAM5[Resource::<${lid(f)}.Arn>:*]`,
        reason: `Added by the Step Functions LambdaInvoke task: the ${m} loop may invoke versions/aliases of its own exporter only.`,
      },
    );
  }
  const schedulerRole = stack.node.tryFindChild('SchedulerRole');
  if (schedulerRole && stack.node.tryFindChild('ScheduleTokenRefresh')) {
    out.push({
      construct: schedulerRole,
      id: `${RULE}IAM5[Resource::<${lid(stack.tokenRefresh)}.Arn>:*]`,
      reason:
        'Added by the EventBridge Scheduler Lambda target: the scheduler may invoke versions/aliases of the token-refresh function only.',
    });
  }
  return out;
}

export function applySuppressions(stack: QualysExportStack, prefix: string): void {
  for (const a of acknowledgedFindings(stack, prefix)) {
    Validations.of(a.construct).acknowledge({ id: a.id, reason: a.reason });
  }
}
