import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as cxapi from 'aws-cdk-lib/cx-api';
import type { Construct } from 'constructs';
import type { ModuleName } from '../shared/config';
import { addAnalytics, type Analytics } from './analytics';
import { PROXY_VARIABLES, type StackSettings } from './context';
import { functionKit, type FunctionKit, type FunctionNetwork } from './functions';
import { alarmTopic, scheduleDeliveryAlarm } from './observability';
import { partitionStart, type PartitionStart } from './partition-start';
import { lifecycleRules } from './storage';
import { buildTenant, tenantOutputs, TenantStack, type TenantResources } from './tenant';

export { exporterS3Statements, PCI_CREDENTIALS_SECRET_ENV } from './tenant';

export interface QualysExportStackProps extends StackProps {
  settings: StackSettings;
}

/**
 * Everything qualys-export deploys: the shared bucket, alarm topic, schedule dead-letter queue and Glue tables,
 * and per tenant its secrets, functions, loops, schedules and alarms. Without a `tenants` context key there is
 * one implicit tenant, built into this stack exactly as the single-tenant releases did; with `tenants`, each
 * tenant is a nested stack.
 */
export class QualysExportStack extends Stack {
  readonly bucket: s3.IBucket;
  readonly alarmTopic: sns.Topic;
  readonly scheduleDlq: sqs.Queue;
  /** Every tenant's resources, in context order (one, without an id, for a single-tenant stack). */
  readonly tenants: TenantResources[];
  /** The nested stack of each listed tenant, by id. */
  readonly tenantStacks: Record<string, TenantStack> = {};
  readonly settings: StackSettings;
  /** The bucket's customer-managed key (created with `kms`, or named by `bucketKmsKeyArn`). */
  readonly dataKeyArn?: string;
  /** The functions' security group, when the stack creates it (`subnetIds` with `vpcId`). */
  readonly functionSecurityGroup?: ec2.CfnSecurityGroup;
  /** The kit of functions outside any tenant (the single tenant's, or the root's when tenants are listed). */
  readonly rootKit: FunctionKit;
  readonly partitionStart: PartitionStart;
  readonly analytics: Analytics;

  constructor(scope: Construct, id: string, props: QualysExportStackProps) {
    super(scope, id, props);
    const s = props.settings;
    this.settings = s;
    const prefix = s.prefix;
    // Server access logs are delivered under a bucket policy for logging.s3.amazonaws.com (with the source bucket
    // and account as conditions), not the legacy LogDeliveryWrite ACL: the log bucket has ACLs disabled.
    this.node.setContext(cxapi.S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, true);

    // ------------------------------------------------------------------ storage
    const key = s.kms
      ? new kms.Key(this, 'DataKey', { enableKeyRotation: true, description: 'qualys-export data' })
      : undefined;
    this.dataKeyArn = key?.keyArn ?? s.bucketKmsKeyArn;
    if (s.existingBucketName) {
      this.bucket = s3.Bucket.fromBucketName(this, 'Bucket', s.existingBucketName);
    } else {
      const accessLogs = new s3.Bucket(this, 'AccessLogs', {
        encryption: s3.BucketEncryption.S3_MANAGED,
        enforceSSL: true,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycleRules: [{ expiration: Duration.days(365) }],
        removalPolicy: RemovalPolicy.RETAIN,
      });
      this.bucket = new s3.Bucket(this, 'Bucket', {
        encryption: key ? s3.BucketEncryption.KMS : s3.BucketEncryption.S3_MANAGED,
        encryptionKey: key,
        bucketKeyEnabled: Boolean(key),
        enforceSSL: true,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        versioned: s.versioned,
        serverAccessLogsBucket: accessLogs,
        serverAccessLogsPrefix: 'bucket/',
        removalPolicy: RemovalPolicy.RETAIN,
        lifecycleRules: lifecycleRules(s),
      });
    }

    // ------------------------------------------------------------------ network
    let network: FunctionNetwork | undefined;
    if (s.vpc) {
      if (s.vpc.securityGroupIds) {
        network = { subnetIds: s.vpc.subnetIds, securityGroupIds: s.vpc.securityGroupIds };
      } else {
        this.functionSecurityGroup = functionSecurityGroup(this, s, s.vpc.vpcId!);
        network = { subnetIds: s.vpc.subnetIds, securityGroupIds: [this.functionSecurityGroup.attrGroupId] };
      }
    }

    // ------------------------------------------------------------------ shared by every tenant
    this.scheduleDlq = new sqs.Queue(this, 'ScheduleDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.alarmTopic = alarmTopic(this, s.alarmEmail);
    const shared = {
      bucket: this.bucket,
      dataKeyArn: this.dataKeyArn,
      alarmTopic: this.alarmTopic,
      scheduleDlq: this.scheduleDlq,
      network,
    };

    // ------------------------------------------------------------------ tenants
    if (!s.multiTenant) {
      // The implicit tenant: built into this stack with the construct ids of the single-tenant releases.
      this.tenants = [
        buildTenant(this, { settings: s, tenant: s.tenants[0]!, shared, stackName: this.stackName }),
      ];
    } else {
      for (const tenant of s.tenants) {
        this.tenantStacks[tenant.id!] = new TenantStack(this, {
          settings: s,
          tenant,
          shared,
          stackName: this.stackName,
        });
      }
      this.tenants = Object.values(this.tenantStacks).map((t) => t.resources);
      scheduleDeliveryAlarm(this, { settings: s, topics: [this.alarmTopic], scheduleDlq: this.scheduleDlq });
    }

    // ------------------------------------------------------------------ analytics
    // Glue database, one table per module (columns from schemas/), the manifests table, complete-runs views,
    // the Athena workgroup and the readers' policy. Listed tenants share them: `tenant` is a projected partition
    // column (their data is under <prefix>/<tenant>/), so one query can span subscriptions or filter to one.
    this.rootKit = s.multiTenant ? functionKit(this, s.logRetentionDays, network) : this.tenants[0]!.kit;
    this.partitionStart = partitionStart(this, s, this.bucket, this.rootKit);
    this.analytics = addAnalytics(this, {
      bucket: this.bucket,
      prefix,
      tenants: s.multiTenant ? s.tenants.map((t) => t.id!) : undefined,
      partitionStart: this.partitionStart.date,
      dataKeyArn: this.dataKeyArn,
    });
    const database = this.analytics.database;

    new CfnOutput(this, 'BucketName', { value: this.bucket.bucketName });
    // The implicit tenant's resources (a listed tenant's are outputs of its nested stack, and named).
    if (!s.multiTenant) tenantOutputs(this, this.single());
    new CfnOutput(this, 'GlueDatabaseName', { value: database.ref });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topicArn });
    new CfnOutput(this, 'ScheduleDeadLetterQueueUrl', { value: this.scheduleDlq.queueUrl });
    new CfnOutput(this, 'ReaderPolicyArn', {
      value: this.analytics.readerPolicy.managedPolicyArn,
      description: 'Attach to the roles that query the exports (S3, KMS, Glue, Athena workgroup)',
    });
    new CfnOutput(this, 'AthenaWorkGroupName', { value: this.analytics.workGroup.ref });
    if (this.functionSecurityGroup) {
      new CfnOutput(this, 'FunctionSecurityGroupId', {
        value: this.functionSecurityGroup.attrGroupId,
        description: 'Allow it on the VPC endpoints (HTTPS) and the proxy, if any',
      });
    }
  }

  // The single tenant's resources, as the single-tenant releases exposed them (tests and tools use these).
  private single(): TenantResources {
    if (this.tenants.length !== 1 || this.tenants[0]!.tenant.id) {
      throw new Error('this stack lists tenants: use stack.tenants or stack.tenantStacks');
    }
    return this.tenants[0]!;
  }
  get credentialsSecret(): secretsmanager.Secret {
    return this.single().credentialsSecret!;
  }
  get pciCredentialsSecret(): secretsmanager.Secret {
    return this.single().pciCredentialsSecret!;
  }
  get vmCredentialsSecret(): secretsmanager.Secret {
    return this.single().vmCredentialsSecret!;
  }
  get tokenSecret(): secretsmanager.Secret {
    return this.single().tokenSecret!;
  }
  get tokenRefresh(): NodejsFunction {
    return this.single().tokenRefresh!;
  }
  get exporters(): Record<ModuleName, NodejsFunction> {
    return this.single().exporters as Record<ModuleName, NodejsFunction>;
  }
  get stateMachines(): Record<ModuleName, sfn.StateMachine> {
    return this.single().stateMachines as Record<ModuleName, sfn.StateMachine>;
  }
  get alarms(): cloudwatch.Alarm[] {
    return this.single().alarms;
  }
  get kit(): FunctionKit {
    return this.single().kit;
  }
  get xrayPolicy(): iam.Policy {
    return this.single().xrayPolicy;
  }
  get logDeliveryPolicy(): iam.Policy {
    return this.single().logDeliveryPolicy;
  }
}

/** The port of each proxy URL the functions are configured with (HTTPS_PROXY / HTTP_PROXY of any tenant). */
function proxyPorts(s: StackSettings): number[] {
  const ports = new Set<number>();
  for (const env of [s.proxyEnv, ...s.tenants.map((t) => t.exporterEnv)]) {
    for (const k of PROXY_VARIABLES) {
      const v = env[k]?.trim();
      if (!v || k === 'NO_PROXY') continue;
      const url = new URL(v);
      ports.add(url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80);
    }
  }
  return [...ports].sort((a, b) => a - b);
}

/**
 * The functions' security group, when the context gives subnets and a VPC but no security groups: nothing in,
 * and out only HTTPS (Qualys, the IdP, AWS endpoints) and the port of each configured proxy. DNS to the VPC
 * resolver is not subject to security groups.
 */
function functionSecurityGroup(scope: Stack, s: StackSettings, vpcId: string): ec2.CfnSecurityGroup {
  const ports = [...new Set([443, ...proxyPorts(s)])];
  return new ec2.CfnSecurityGroup(scope, 'FunctionSecurityGroup', {
    vpcId,
    groupDescription: 'qualys-export functions: no inbound; outbound HTTPS (and the proxy port, if any)',
    securityGroupEgress: ports.map((port) => ({
      ipProtocol: 'tcp',
      fromPort: port,
      toPort: port,
      cidrIp: '0.0.0.0/0',
      description: port === 443 ? 'HTTPS: Qualys, the IdP, AWS endpoints' : 'the configured proxy',
    })),
  });
}
