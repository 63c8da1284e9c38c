import { Validations, type CfnElement } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { MODULES } from '../shared/config';
import type { QualysExportStack } from './stack';

/**
 * cdk-nag (AwsSolutions) findings we accept, each with the reason a reviewer needs. cdk-nag v3 wants one
 * acknowledgment per finding, so wildcard findings are named exactly (no blanket IAM5 suppression).
 */
export function acknowledgedFindings(
  stack: QualysExportStack,
  prefix: string,
): { id: string; reason: string }[] {
  const lid = (c: IConstruct) => stack.getLogicalId(c.node.defaultChild as CfnElement);
  const out: { id: string; reason: string }[] = [
    {
      id: 'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason:
        "Used only for CloudWatch Logs writes to each function's own log group; all data access is granted by explicit, scoped statements.",
    },
    {
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason:
        "X-Ray trace submission and Step Functions log delivery have no resource-level permissions: AWS requires '*' for those actions only.",
    },
    {
      id: 'AwsSolutions::AwsSolutions-L1',
      reason:
        'Pinned to nodejs22.x on purpose: AWS SDK v3 releases from 2027 need Node 22 and the code is tested on Node 20/22; newer runtimes are adopted after testing.',
    },
    {
      id: 'AwsSolutions::AwsSolutions-SMG4',
      reason:
        'The token secret is rewritten by the token-refresh function every 30 minutes; the credentials secret holds Qualys-issued credentials that only the user can rotate, in Qualys (docs/credentials.md).',
    },
    {
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${lid(stack.tokenRefresh)}.Arn>:*]`,
      reason:
        'grantInvoke covers the versions/aliases of the token-refresh function only (ARN:*), no other function.',
    },
  ];
  const bucketArn = stack.bucket.node.defaultChild
    ? `<${lid(stack.bucket)}.Arn>`
    : `arn:<AWS::Partition>:s3:::${stack.bucket.bucketName}`;
  for (const m of MODULES) {
    out.push({
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::${bucketArn}/${prefix}/${m}/*]`,
      reason: `The ${m} exporter writes new object keys per run under its own prefix only (${prefix}/${m}/).`,
    });
    out.push({
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${lid(stack.exporters[m])}.Arn>:*]`,
      reason: `The ${m} loop invokes versions/aliases of its own exporter function only.`,
    });
  }
  return out;
}

export function applySuppressions(stack: QualysExportStack, prefix: string): void {
  for (const a of acknowledgedFindings(stack, prefix)) Validations.of(stack).acknowledge(a);
}
