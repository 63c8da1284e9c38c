import { ArnFormat, Aws, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { ModuleName } from '../shared/config';
import {
  CLOCK_SKEW_MODULES,
  DIM_FUNCTION,
  DIM_MODULE,
  DIM_TENANT,
  EXPORT_METRICS,
  METRIC_NAMESPACE,
  TOKEN_METRICS,
  TOKEN_REFRESH_DIMENSION_VALUE,
} from '../shared/metrics-names';
import { pascal, scheduleSeconds, type StackSettings, type TenantSettings } from './context';

/** The alarm kinds; each has a section of the same name in docs/runbook.md (anchor = name in lower case). */
export const ALARM_KINDS = [
  'NoRunCompleted',
  'ExecutionsFailed',
  'Freshness',
  'RunsBusy',
  'CompletenessFailures',
  'SchemaDrift',
  'ClockSkew',
  'TokenAge',
  'TokenRefreshFailing',
  'ScheduleDeliveryFailed',
] as const;
export type AlarmKind = (typeof ALARM_KINDS)[number];

/**
 * Lets CloudWatch alarms of this deployment — and only those — publish to `topic`: the topic policy allows
 * `cloudwatch.amazonaws.com` sns:Publish when the request comes from an alarm named `<alarmPrefix>*` in this
 * account (aws:SourceArn, aws:SourceAccount: the confused-deputy guard AWS documents for service principals).
 */
export function allowAlarmsToPublish(topic: sns.Topic, alarmPrefix: string): void {
  topic.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'AllowAlarmsOfThisStackToPublish',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      conditions: alarmSourceConditions(topic, alarmPrefix),
    }),
  );
}

/** aws:SourceArn = an alarm named `<alarmPrefix>*` of this account and region; aws:SourceAccount = this account. */
function alarmSourceConditions(scope: Construct, alarmPrefix: string) {
  return {
    ArnLike: {
      'aws:SourceArn': Stack.of(scope).formatArn({
        service: 'cloudwatch',
        resource: 'alarm',
        resourceName: `${alarmPrefix}*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    },
    StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
  };
}

/**
 * The alarm topic and the key that encrypts it. The AWS-managed SNS key cannot be used: its key policy can't
 * be changed to let CloudWatch encrypt what it publishes, so alarms sent to such a topic are silently
 * dropped. This customer-managed key allows `cloudwatch.amazonaws.com` exactly the two actions it needs, and only
 * on behalf of this stack's alarms (every alarm of the stack, tenants' included, is named `<stack name>-…`).
 */
export function alarmTopic(scope: Construct, alarmEmail: string | undefined): sns.Topic {
  const alarmPrefix = `${Stack.of(scope).stackName}-`;
  const key = new kms.Key(scope, 'AlarmTopicKey', {
    description: 'qualys-export: encrypts the alarm topic (CloudWatch may use it to publish)',
    enableKeyRotation: true,
  });
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'AllowCloudWatchAlarmsToPublish',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'], // in a key policy, '*' means this key
      conditions: alarmSourceConditions(scope, alarmPrefix),
    }),
  );
  const topic = new sns.Topic(scope, 'AlarmTopic', {
    displayName: 'qualys-export alarms',
    enforceSSL: true,
    masterKey: key,
  });
  allowAlarmsToPublish(topic, alarmPrefix);
  if (alarmEmail) topic.addSubscription(new subs.EmailSubscription(alarmEmail));
  return topic;
}

/**
 * The window an alarm looks at, as CloudWatch allows it: periods under an hour may span at most a day,
 * longer ones at most seven days.
 */
export function alarmWindow(totalSeconds: number): { period: Duration; evaluationPeriods: number } {
  if (totalSeconds <= 86_400) {
    // 5-minute periods up to a day (at most 288 of them).
    const periodSeconds = totalSeconds <= 3600 ? 300 : 3600;
    return {
      period: Duration.seconds(periodSeconds),
      evaluationPeriods: Math.max(1, Math.ceil(totalSeconds / periodSeconds)),
    };
  }
  return { period: Duration.hours(1), evaluationPeriods: Math.min(168, Math.ceil(totalSeconds / 3600)) };
}

export interface ObservabilityProps {
  settings: StackSettings;
  /** The tenant these alarms watch: its schedules, and its id as the `Tenant` dimension (when it has one). */
  tenant: TenantSettings;
  /** Alarm and dashboard names start with this (the stack name, or `<stack name>-<tenant>`). */
  baseName: string;
  /** Every alarm notifies each of these topics. */
  topics: sns.ITopic[];
  stateMachines: Partial<Record<ModuleName, sfn.StateMachine>>;
  /** Absent when the tenant exports no gateway module (no token to watch). */
  tokenRefresh?: lambda.IFunction;
  /** The schedules' dead-letter queue, when its alarm belongs with these (the single-tenant stack). */
  scheduleDlq?: sqs.IQueue;
}

/** A function creating alarms named `<baseName>-<id>` that notify `topics` and link their runbook section. */
function alarmFactory(
  scope: Construct,
  settings: StackSettings,
  baseName: string,
  topics: sns.ITopic[],
  alarms: cloudwatch.Alarm[],
) {
  const actions = topics.map((t) => new cwActions.SnsAction(t));
  return (
    id: string,
    kind: AlarmKind,
    summary: string,
    props: Omit<cloudwatch.AlarmProps, 'alarmDescription' | 'alarmName'>,
  ) => {
    const a = new cloudwatch.Alarm(scope, id, {
      ...props,
      alarmName: `${baseName}-${id}`,
      alarmDescription: `${summary} Runbook: ${settings.runbookUrl}#${kind.toLowerCase()}`,
    });
    a.addAlarmAction(...actions);
    alarms.push(a);
    return a;
  };
}

/** The alarm on the schedules' dead-letter queue (one per stack: every tenant's schedules share the queue). */
export function scheduleDeliveryAlarm(
  scope: Construct,
  props: {
    settings: StackSettings;
    topics: sns.ITopic[];
    scheduleDlq: sqs.IQueue;
    alarms?: cloudwatch.Alarm[];
  },
): cloudwatch.Alarm {
  const alarm = alarmFactory(
    scope,
    props.settings,
    Stack.of(scope).stackName,
    props.topics,
    props.alarms ?? [],
  );
  return alarm(
    'ScheduleDeliveryFailed',
    'ScheduleDeliveryFailed',
    'EventBridge Scheduler could not start an export or the token refresh; the event is in the dead-letter queue.',
    {
      metric: props.scheduleDlq.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: 'Maximum',
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    },
  );
}

/** Every alarm of one tenant (each linked to its runbook section) and its dashboard. */
export function observability(scope: Construct, props: ObservabilityProps): cloudwatch.Alarm[] {
  const { settings: s, tenant: t, stateMachines, baseName } = props;
  const alarms: cloudwatch.Alarm[] = [];
  const alarm = alarmFactory(scope, s, baseName, props.topics, alarms);
  // A listed tenant's functions add their tenant to every metric (QEXPORT_TENANT); the implicit one's do not.
  const tenantDims: Record<string, string> = t.id ? { [DIM_TENANT]: t.id } : {};
  const moduleMetric = (module: ModuleName, name: string, statistic: string, period: Duration) =>
    new cloudwatch.Metric({
      namespace: METRIC_NAMESPACE,
      metricName: name,
      dimensionsMap: { ...tenantDims, [DIM_MODULE]: module },
      statistic,
      period,
    });

  const dashboardRows: cloudwatch.IWidget[][] = [];
  for (const module of t.modules) {
    const id = pascal(module);
    const sm = stateMachines[module]!;
    const expr = t.schedules[module];
    const every = scheduleSeconds(expr);
    const fiveMin = Duration.minutes(5);

    if (expr !== 'disabled') {
      const w = alarmWindow(s.alarmNoRunPeriods * every);
      alarm(
        `${id}NoRunCompleted`,
        'NoRunCompleted',
        `No ${module} run completed (RunsCompleted) within ${s.alarmNoRunPeriods} schedule periods (${expr}).`,
        {
          metric: moduleMetric(module, EXPORT_METRICS.runsCompleted, 'Sum', w.period),
          threshold: 1,
          evaluationPeriods: w.evaluationPeriods,
          datapointsToAlarm: w.evaluationPeriods,
          comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        },
      );
      const f = alarmWindow(every);
      alarm(
        `${id}Freshness`,
        'Freshness',
        `The newest complete ${module} data is older than ${s.alarmFreshnessPeriods} schedule periods (${expr}).`,
        {
          metric: moduleMetric(module, EXPORT_METRICS.freshnessSeconds, 'Maximum', f.period),
          threshold: s.alarmFreshnessPeriods * every,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        },
      );
    }

    // A busy execution (another one held the lease) ends in the AlreadyRunning Succeed state, so Step Functions
    // counts only real failures here: no subtraction of RunsBusy, which could land in another period and alarm
    // falsely (or cancel a real failure out). Busy executions have their own alarm.
    const busy = moduleMetric(module, EXPORT_METRICS.runsBusy, 'Sum', fiveMin);
    alarm(
      `${id}ExecutionsFailed`,
      'ExecutionsFailed',
      `A ${module} execution failed, timed out or was aborted; its checkpoint is kept.`,
      {
        metric: new cloudwatch.MathExpression({
          expression: 'FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)',
          usingMetrics: {
            failed: sm.metricFailed({ period: fiveMin, statistic: 'Sum' }),
            timedOut: sm.metricTimedOut({ period: fiveMin, statistic: 'Sum' }),
            aborted: sm.metricAborted({ period: fiveMin, statistic: 'Sum' }),
          },
          label: `${module} executions failed, timed out or aborted`,
          period: fiveMin,
        }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      },
    );
    alarm(
      `${id}RunsBusy`,
      'RunsBusy',
      `A ${module} execution found another one holding the module lease and stopped (AlreadyRunning).`,
      {
        metric: busy,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      },
    );
    alarm(
      `${id}CompletenessFailures`,
      'CompletenessFailures',
      `A ${module} run could not be proven complete and failed (nothing was published).`,
      {
        metric: moduleMetric(module, EXPORT_METRICS.completenessFailures, 'Sum', fiveMin),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      },
    );
    alarm(
      `${id}SchemaDrift`,
      'SchemaDrift',
      `${module} records carried fields the declared schema does not know.`,
      {
        metric: moduleMetric(module, EXPORT_METRICS.schemaDriftRecords, 'Sum', Duration.hours(1)),
        threshold: 0,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      },
    );
    if ((CLOCK_SKEW_MODULES as readonly string[]).includes(module)) {
      alarm(
        `${id}ClockSkew`,
        'ClockSkew',
        `Qualys's clock and the ${module} exporter's differ by more than the overlap of consecutive windows.`,
        {
          metric: moduleMetric(module, EXPORT_METRICS.clockSkewBeyondOverlap, 'Maximum', Duration.hours(1)),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        },
      );
    }

    const hour = Duration.hours(1);
    dashboardRows.push([
      new cloudwatch.GraphWidget({
        title: `${module}: records and pages`,
        left: [
          moduleMetric(module, EXPORT_METRICS.records, 'Sum', hour),
          moduleMetric(module, EXPORT_METRICS.pages, 'Sum', hour),
        ],
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: `${module}: API calls and retries`,
        left: [
          moduleMetric(module, EXPORT_METRICS.apiCalls, 'Sum', hour),
          moduleMetric(module, EXPORT_METRICS.retries, 'Sum', hour),
        ],
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: `${module}: runs completed, failed, busy`,
        left: [
          moduleMetric(module, EXPORT_METRICS.runsCompleted, 'Sum', hour),
          moduleMetric(module, EXPORT_METRICS.runsFailed, 'Sum', hour),
          moduleMetric(module, EXPORT_METRICS.runsBusy, 'Sum', hour),
        ],
        right: [moduleMetric(module, EXPORT_METRICS.durationMs, 'Maximum', hour)],
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: `${module}: freshness (s)`,
        left: [moduleMetric(module, EXPORT_METRICS.freshnessSeconds, 'Maximum', hour)],
        width: 6,
      }),
    ]);
  }

  // ------------------------------------------------------------------ token
  const refreshEvery = t.tokenRefreshSchedule === 'disabled' ? 1800 : scheduleSeconds(t.tokenRefreshSchedule);
  const refreshPeriod = Duration.seconds(Math.max(300, Math.min(3600, refreshEvery)));
  const tokenMetric = (name: string, statistic: string) =>
    new cloudwatch.Metric({
      namespace: METRIC_NAMESPACE,
      metricName: name,
      dimensionsMap: { ...tenantDims, [DIM_FUNCTION]: TOKEN_REFRESH_DIMENSION_VALUE },
      statistic,
      period: refreshPeriod,
    });
  if (props.tokenRefresh) {
    alarm(
      'TokenAge',
      'TokenAge',
      `The stored Qualys token is older than ${s.alarmTokenAgeMinutes} minutes, or the refresh reported no age at all.`,
      {
        metric: tokenMetric(TOKEN_METRICS.tokenAgeSeconds, 'Maximum'),
        threshold: s.alarmTokenAgeMinutes * 60,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        // With the refresh scheduled, a period with no age reported means the refresh did not run or failed.
        treatMissingData:
          t.tokenRefreshSchedule === 'disabled'
            ? cloudwatch.TreatMissingData.NOT_BREACHING
            : cloudwatch.TreatMissingData.BREACHING,
      },
    );
    alarm(
      'TokenRefreshFailing',
      'TokenRefreshFailing',
      'The token refresh failed in two periods in a row: exports will start failing with 401.',
      {
        metric: new cloudwatch.MathExpression({
          // The handler counts its own failures; Lambda's Errors also catches crashes and timeouts.
          expression: 'MAX([FILL(failures, 0), FILL(errors, 0)])',
          usingMetrics: {
            failures: tokenMetric(TOKEN_METRICS.refreshFailures, 'Sum'),
            errors: props.tokenRefresh.metricErrors({ period: refreshPeriod, statistic: 'Sum' }),
          },
          label: 'token refresh failures',
          period: refreshPeriod,
        }),
        threshold: 1,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      },
    );
  }
  if (props.scheduleDlq) {
    scheduleDeliveryAlarm(scope, {
      settings: s,
      topics: props.topics,
      scheduleDlq: props.scheduleDlq,
      alarms,
    });
  }

  new cloudwatch.Dashboard(scope, 'Dashboard', {
    dashboardName: `${baseName}-qualys-export`,
    widgets: [
      [
        ...(props.tokenRefresh
          ? [
              new cloudwatch.GraphWidget({
                title: 'token: age (s), refreshes, failures',
                left: [tokenMetric(TOKEN_METRICS.tokenAgeSeconds, 'Maximum')],
                right: [
                  tokenMetric(TOKEN_METRICS.refreshes, 'Sum'),
                  tokenMetric(TOKEN_METRICS.refreshFailures, 'Sum'),
                ],
                width: 16,
              }),
            ]
          : []),
        new cloudwatch.AlarmStatusWidget({ title: 'alarms', alarms, width: 8 }),
      ],
      ...dashboardRows,
    ],
  });
  return alarms;
}
