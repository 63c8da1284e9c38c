// The CDK app (`cdk.json` → `npx tsx infra/app.ts`): one stack, settings from context, cdk-nag applied.
import { App } from 'aws-cdk-lib';
import { buildStack } from './build';

const app = new App();
buildStack(app);
app.synth();
