import type { Template } from 'aws-cdk-lib/assertions';

export interface AslState {
  Type: string;
  Next?: string;
  Parameters?: unknown;
  Retry?: unknown;
  [k: string]: unknown;
}
export interface AslDefinition {
  StartAt: string;
  States: Record<string, AslState>;
  TimeoutSeconds?: number;
  Comment?: string;
}

/**
 * The ASL of a synthesized state machine, with each CloudFormation intrinsic in its definition (the Lambda
 * ARN of the Invoke task) replaced by what `resolve` returns — by default an ARN in the shape AWS gives.
 */
export function definitionOf(
  template: Template,
  logicalId: string,
  resolve: (intrinsic: unknown) => string = (i) =>
    `arn:aws:lambda:us-east-1:123456789012:function:${JSON.stringify(i).replace(/[^A-Za-z0-9]/g, '')}`,
): AslDefinition {
  const r = template.toJSON().Resources[logicalId] as {
    Properties: { DefinitionString: string | { 'Fn::Join': [string, unknown[]] } };
  };
  const d = r.Properties.DefinitionString;
  const text =
    typeof d === 'string'
      ? d
      : d['Fn::Join'][1].map((p) => (typeof p === 'string' ? p : resolve(p))).join(d['Fn::Join'][0]);
  return JSON.parse(text) as AslDefinition;
}
