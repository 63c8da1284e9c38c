import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { ModuleName } from '../shared/config';
import { addAnalytics } from './analytics';
import type { StackSettings } from './context';
import { alarmTopic, scheduleDeliveryAlarm } from './observability';
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

  constructor(scope: Construct, id: string, props: QualysExportStackProps) {
    super(scope, id, props);
    const s = props.settings;
    const prefix = s.prefix;

    // ------------------------------------------------------------------ storage
    const key = s.kms
      ? new kms.Key(this, 'DataKey', { enableKeyRotation: true, description: 'qualys-export data' })
      : undefined;
    if (s.existingBucketName) {
      this.bucket = s3.Bucket.fromBucketName(this, 'Bucket', s.existingBucketName);
    } else {
      const accessLogs = new s3.Bucket(this, 'AccessLogs', {
        encryption: s3.BucketEncryption.S3_MANAGED,
        enforceSSL: true,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
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
        lifecycleRules: [
          { abortIncompleteMultipartUploadAfter: Duration.days(7) },
          ...(s.retentionDays > 0
            ? [{ prefix: `${prefix}/`, expiration: Duration.days(s.retentionDays) }]
            : []),
        ],
      });
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
      dataKey: key,
      alarmTopic: this.alarmTopic,
      scheduleDlq: this.scheduleDlq,
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
    // Glue database, one table per module (columns from schemas/), the manifests table, complete-runs views.
    // Listed tenants share them: `tenant` is a projected partition column (their data is under
    // <prefix>/<tenant>/), so one query can span subscriptions or filter to one.
    const analytics = addAnalytics(this, {
      bucket: this.bucket,
      prefix,
      tenants: s.multiTenant ? s.tenants.map((t) => t.id!) : undefined,
    });
    const database = analytics.database;

    new CfnOutput(this, 'BucketName', { value: this.bucket.bucketName });
    // The implicit tenant's resources (a listed tenant's are outputs of its nested stack, and named).
    if (!s.multiTenant) tenantOutputs(this, this.single());
    new CfnOutput(this, 'GlueDatabaseName', { value: database.ref });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topicArn });
    new CfnOutput(this, 'ScheduleDeadLetterQueueUrl', { value: this.scheduleDlq.queueUrl });
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
  get xrayPolicy(): iam.Policy {
    return this.single().xrayPolicy;
  }
  get logDeliveryPolicy(): iam.Policy {
    return this.single().logDeliveryPolicy;
  }
}
