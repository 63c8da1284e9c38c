import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { expect } from 'vitest';
import { buildStack } from '../../infra/build';
import { acknowledgedFindings } from '../../infra/nag';
import type { QualysExportStack } from '../../infra/stack';

export interface NagFinding {
  path: string;
  id: string;
}

/**
 * The stack built with this context but without its written acknowledgements, and every cdk-nag finding its
 * synthesis then reports (construct path and rule id).
 */
export function unacknowledged(context: Record<string, unknown>): {
  stack: QualysExportStack;
  findings: NagFinding[];
} {
  const app = new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
  const { stack } = buildStack(app, { acknowledge: false });
  let message = '';
  try {
    Template.fromStack(stack);
  } catch (err) {
    message = (err as Error).message;
  }
  // "   QualysExport/<path> <type>\n   Acknowledge with '<id>'"
  const findings = [...message.matchAll(/^\s+(\S+) \S+\n\s+Acknowledge with '([^']+)'/gm)].map((m) => ({
    path: m[1]!,
    id: m[2]!,
  }));
  return { stack, findings };
}

/** Every acknowledgement the stack writes matches a finding on the construct it was written for (or inside it). */
export function expectEveryAcknowledgementMatches(stack: QualysExportStack, findings: NagFinding[]): void {
  for (const a of acknowledgedFindings(stack)) {
    const at = a.construct.node.path;
    const hit = findings.filter((f) => f.id === a.id && (f.path === at || f.path.startsWith(`${at}/`)));
    expect(hit.length, `${a.id} on ${at}`).toBeGreaterThan(0);
  }
}
