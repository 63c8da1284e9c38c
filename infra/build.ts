import { Validations, type App } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readSettings } from './context';
import { applySuppressions } from './nag';
import { QualysExportStack } from './stack';

/** Builds the stack from the app's context, with cdk-nag (AwsSolutions) and its acknowledged findings. */
export function buildStack(
  app: App,
  opts: { acknowledge?: boolean } = {},
): { stack: QualysExportStack; nag: AwsSolutionsChecks } {
  const settings = readSettings((k) => app.node.tryGetContext(k));
  const stack = new QualysExportStack(
    app,
    (app.node.tryGetContext('stackName') as string | undefined) ?? 'QualysExport',
    {
      settings,
      env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
      description: 'qualys-export: scheduled export of Qualys data to S3 as NDJSON',
    },
  );
  const nag = new AwsSolutionsChecks(app, { verbose: true });
  Validations.of(app).addPlugins(nag);
  if (opts.acknowledge !== false) applySuppressions(stack);
  return { stack, nag };
}
