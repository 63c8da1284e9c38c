import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RemovalPolicy, type Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { PROXY_VARIABLES } from './context';
import { HEAP_WRAPPER } from './lambda-runtime';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Does a function's environment route its Qualys calls through a proxy? */
export function usesProxy(env: Record<string, string>): boolean {
  return PROXY_VARIABLES.some((k) => k !== 'NO_PROXY' && Boolean(env[k]?.trim()));
}

/** Where the functions run when the stack is given subnets: the same subnets and security groups for all. */
export interface FunctionNetwork {
  subnetIds: string[];
  securityGroupIds: string[];
}

/**
 * What every function built in one scope (the stack, or a tenant's nested stack) shares: its log retention, the
 * policy with the X-Ray write actions and, in a VPC, the policy with the network-interface actions Lambda needs to
 * place it there. AWS offers both sets of actions on Resource '*' only; they live in these policies (attached to
 * every function role), never in a role's default policy, so the cdk-nag acknowledgement for '*' names these
 * policies alone and a '*' grant added to any role is still reported.
 */
export interface FunctionKit {
  logRetentionDays: number;
  xrayPolicy: iam.Policy;
  network?: FunctionNetwork & { policy: iam.Policy };
}

/** The actions of AWS's AWSLambdaVPCAccessExecutionRole (minus logs: the functions log through their log group). */
export const VPC_ACCESS_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
];

export function functionKit(
  scope: Construct,
  logRetentionDays: number,
  network: FunctionNetwork | undefined,
): FunctionKit {
  const xrayPolicy = new iam.Policy(scope, 'XRayWritePolicy', {
    statements: [
      new iam.PolicyStatement({
        actions: [
          'xray:PutTraceSegments',
          'xray:PutTelemetryRecords',
          'xray:GetSamplingRules',
          'xray:GetSamplingTargets',
        ],
        resources: ['*'],
      }),
    ],
  });
  return {
    logRetentionDays,
    xrayPolicy,
    ...(network
      ? {
          network: {
            ...network,
            policy: new iam.Policy(scope, 'VpcAccessPolicy', {
              statements: [new iam.PolicyStatement({ actions: VPC_ACCESS_ACTIONS, resources: ['*'] })],
            }),
          },
        }
      : {}),
  };
}

export interface ProductFunctionProps {
  /** Construct id; the log group is `<id>Logs`. */
  id: string;
  /** File under functions/. */
  entry: string;
  memoryMb: number;
  timeout: Duration;
  env: Record<string, string>;
  functionName?: string;
  /** Start node through the heap wrapper with this V8 semi-space size (infra/lambda-runtime.ts). */
  semiSpaceMb?: number;
}

/**
 * One function of the product: Node.js 22 on arm64, JSON logs in its own log group, active tracing, bundled by
 * esbuild with the AWS SDK inside, and in the stack's subnets when it has any.
 */
export function productFunction(scope: Construct, kit: FunctionKit, p: ProductFunctionProps): NodejsFunction {
  const logGroup = new logs.LogGroup(scope, `${p.id}Logs`, {
    retention: kit.logRetentionDays as logs.RetentionDays,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const f = new NodejsFunction(scope, p.id, {
    functionName: p.functionName,
    entry: path.join(ROOT, 'functions', p.entry),
    handler: 'handler',
    runtime: lambda.Runtime.NODEJS_22_X,
    architecture: lambda.Architecture.ARM_64,
    memorySize: p.memoryMb,
    timeout: p.timeout,
    logGroup,
    loggingFormat: lambda.LoggingFormat.JSON,
    environment: {
      NODE_OPTIONS: '--enable-source-maps',
      // Lambda starts node through this script, which sets V8's young generation (infra/lambda-runtime.ts).
      ...(p.semiSpaceMb
        ? {
            AWS_LAMBDA_EXEC_WRAPPER: `/var/task/${HEAP_WRAPPER}`,
            QEXPORT_SEMI_SPACE_MB: String(p.semiSpaceMb),
          }
        : {}),
      ...p.env,
    },
    projectRoot: ROOT,
    depsLockFilePath: path.join(ROOT, 'package-lock.json'),
    bundling: {
      format: OutputFormat.ESM,
      target: 'node22',
      platform: 'node',
      minify: true,
      sourceMap: true,
      mainFields: ['module', 'main'],
      // The AWS SDK is bundled, not taken from the runtime, so its version is the one we test.
      externalModules: [],
      // Behind a proxy the functions load undici (EnvHttpProxyAgent); it is installed beside the bundle then,
      // and only then (it would take a bundle over its 1 MB budget for every deployment).
      ...(usesProxy(p.env) ? { nodeModules: ['undici'] } : {}),
      banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
      ...(p.semiSpaceMb
        ? {
            commandHooks: {
              beforeBundling: () => [],
              beforeInstall: () => [],
              // Lambda runs the wrapper only if it is executable; the asset zip keeps the file's mode. `input`
              // is the project root (mounted as /asset-input when CDK bundles in Docker).
              afterBundling: (input: string, output: string) => [
                `cp "${input}/functions/${HEAP_WRAPPER}" "${output}/${HEAP_WRAPPER}"`,
                `chmod 755 "${output}/${HEAP_WRAPPER}"`,
              ],
            },
          }
        : {}),
    },
  });
  const cfn = f.node.defaultChild as lambda.CfnFunction;
  // Active tracing set on the resource; its permissions come from the X-Ray policy.
  cfn.tracingConfig = { mode: 'Active' };
  kit.xrayPolicy.attachToRole(f.role!);
  if (kit.network) {
    // Set on the resource (the L2 would need the VPC looked up, and would attach AWSLambdaVPCAccessExecutionRole).
    cfn.vpcConfig = {
      subnetIds: kit.network.subnetIds,
      securityGroupIds: kit.network.securityGroupIds,
    };
    kit.network.policy.attachToRole(f.role!);
    // Lambda checks the role's network-interface permissions when it creates the function.
    cfn.node.addDependency(kit.network.policy);
  }
  return f;
}
