// The CDK app (`cdk.json` → `npx tsx infra/app.ts`): one stack, settings from context, cdk-nag applied.
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readSettings } from './context';
import { applySuppressions } from './nag';
import { QualysExportStack } from './stack';

const app = new App();
const settings = readSettings((k) => app.node.tryGetContext(k));
const stack = new QualysExportStack(app, app.node.tryGetContext('stackName') ?? 'QualysExport', {
  settings,
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  description: 'qualys-export: scheduled export of Qualys data to S3 as NDJSON',
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
applySuppressions(stack, settings.prefix);
app.synth();
