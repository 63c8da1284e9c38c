import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import type { ModuleName } from '../shared/config';

/** Error name when the export function answered with something this loop cannot act on. */
export const BAD_RESULT_ERROR = 'QexportBadResult';

/** ASL state names (the same in every module's loop, so tests and runbooks can name them). */
export const STATES = {
  start: 'Start',
  startRun: 'StartRun',
  startGivenRun: 'StartGivenRun',
  startBackfill: 'StartBackfill',
  invoke: 'Invoke',
  route: 'Route',
  routeStatus: 'RouteStatus',
  hasWait: 'HasWait',
  waitPositive: 'WaitPositive',
  hasErrorFields: 'HasErrorFields',
  errorFieldsAreStrings: 'ErrorFieldsAreStrings',
  waitParams: 'KeepWaitParams',
  wait: 'WaitForApi',
  continue: 'Continue',
  completed: 'Completed',
  done: 'Done',
  failed: 'Failed',
  busyResult: 'BusyResult',
  alreadyRunning: 'AlreadyRunning',
  badResult: 'BadResult',
} as const;

export interface ExportLoopProps {
  module: ModuleName;
  exporter: lambda.IFunction;
  logRetentionDays: number;
  /**
   * The X-Ray and log-delivery actions, which AWS offers on Resource '*' only. Kept out of the role's default
   * policy so a cdk-nag acknowledgement for '*' names these policies and nothing else.
   */
  xrayPolicy: iam.Policy;
  logDeliveryPolicy: iam.Policy;
  /** The state machine's name (at most 80 characters: the caller names and bounds it). */
  stateMachineName: string;
}

/**
 * The Step Functions loop that drives one module's export across Lambda invocations.
 *
 * Every invocation gets `{owner: $$.Execution.Id}` plus `runId` (start with a given run id) or
 * `continuation: {runId}` — nothing else — so the function's lease in the S3 state file is held by exactly one
 * execution. The function's answer is routed by `status`; each branch keeps only the fields its next step
 * needs, so whatever else a result carries is dropped at once and never travels round the loop.
 *
 * A ResultSelector cannot do this trimming here: in JSONPath a selector naming an absent field (`runId`,
 * `waitSeconds`, `error` are optional in the result contract) is a States.Runtime error, so the Route
 * choice checks presence first and Pass states then build the small state.
 */
export function exportLoop(scope: Construct, id: string, props: ExportLoopProps): sfn.StateMachine {
  const { module, exporter, stateMachineName } = props;
  const s = (name: string) => `${id}${name}`;

  const startRun = new sfn.Pass(scope, s('StartRun'), {
    stateName: STATES.startRun,
    comment: 'A new run (or resume the one in the state file), owned by this execution',
    parameters: { 'owner.$': '$$.Execution.Id' },
  });
  const startGivenRun = new sfn.Pass(scope, s('StartGivenRun'), {
    stateName: STATES.startGivenRun,
    comment: 'The execution input named a runId: start (or re-run) that run',
    parameters: { 'owner.$': '$$.Execution.Id', 'runId.$': '$.runId' },
  });
  const startBackfill = new sfn.Pass(scope, s('StartBackfill'), {
    stateName: STATES.startBackfill,
    comment: 'The execution input named a window {from, to}: a backfill run of exactly that window',
    parameters: { 'owner.$': '$$.Execution.Id', 'backfill.$': '$.backfill' },
  });
  const invoke = new tasks.LambdaInvoke(scope, s('Invoke'), {
    stateName: STATES.invoke,
    lambdaFunction: exporter,
    // The state ({owner, runId?} or {owner, continuation}) is the event, and the answer is the function's own
    // JSON (no {Payload, StatusCode} wrapper).
    payloadResponseOnly: true,
    retryOnServiceExceptions: false,
    // The function's own timeout (15 min) ends it first; this only bounds a lost invocation.
    taskTimeout: sfn.Timeout.duration(Duration.minutes(16)),
  });
  invoke.addRetry({
    errors: [
      'Lambda.ServiceException',
      'Lambda.AWSLambdaException',
      'Lambda.SdkClientException',
      'Lambda.TooManyRequestsException',
      // The invocation request itself timed out (the function may not have run): retrying is what AWS advises.
      'Lambda.ClientExecutionTimeoutException',
      'Lambda.Unknown',
    ],
    interval: Duration.seconds(5),
    maxAttempts: 6,
    backoffRate: 2,
    jitterStrategy: sfn.JitterType.FULL,
  });

  const cont = new sfn.Pass(scope, s('Continue'), {
    stateName: STATES.continue,
    comment: 'Only the lease owner and the run id go to the next invocation; the checkpoint is in S3',
    parameters: { 'owner.$': '$$.Execution.Id', continuation: { 'runId.$': '$.runId' } },
  });
  cont.next(invoke);
  // Qualys asked for a longer rate-limit wait than the invocation had left: wait here, not in Lambda.
  const waitParams = new sfn.Pass(scope, s('KeepWaitParams'), {
    stateName: STATES.waitParams,
    parameters: { 'runId.$': '$.runId', 'waitSeconds.$': '$.waitSeconds' },
  });
  const wait = new sfn.Wait(scope, s('WaitForApi'), {
    stateName: STATES.wait,
    time: sfn.WaitTime.secondsPath('$.waitSeconds'),
  });
  waitParams.next(wait).next(cont);

  const completed = new sfn.Pass(scope, s('Completed'), {
    stateName: STATES.completed,
    parameters: {
      'status.$': '$.status',
      'module.$': '$.module',
      'runId.$': '$.runId',
      'records.$': '$.records',
      'parts.$': '$.parts',
    },
  });
  completed.next(new sfn.Succeed(scope, s('Done'), { stateName: STATES.done }));
  const failed = new sfn.Fail(scope, s('Failed'), {
    stateName: STATES.failed,
    comment: 'The run failed; its checkpoint is kept (start the state machine again to resume)',
    errorPath: '$.error.code',
    causePath: '$.reason',
  });
  // Not a failure of this execution: another one is exporting the module. It ends in a Succeed state whose output
  // says so, so ExecutionsFailed counts real failures only; RunsBusy (from the function) counts these.
  const busyResult = new sfn.Pass(scope, s('BusyResult'), {
    stateName: STATES.busyResult,
    comment: 'Another execution holds this module lease; nothing was written (counted as RunsBusy)',
    parameters: { status: 'busy', module },
  });
  busyResult.next(new sfn.Succeed(scope, s('AlreadyRunning'), { stateName: STATES.alreadyRunning }));
  const badResult = new sfn.Fail(scope, s('BadResult'), {
    stateName: STATES.badResult,
    error: BAD_RESULT_ERROR,
    cause: `The ${module} export function returned a result without the fields its status needs (status, runId, records, parts; error.code and reason when failed).`,
  });

  // Each Choice dereferences only paths that an earlier Choice proved present (IsPresent never fails), so a
  // result missing a field goes to BadResult instead of failing the execution with States.Runtime.
  const isStatus = (v: string) => sfn.Condition.stringEquals('$.status', v);
  const present = (p: string) => sfn.Condition.isPresent(p);
  const waitPositive = new sfn.Choice(scope, s('WaitPositive'), { stateName: STATES.waitPositive })
    .when(
      sfn.Condition.and(
        sfn.Condition.isNumeric('$.waitSeconds'),
        sfn.Condition.numberGreaterThan('$.waitSeconds', 0),
      ),
      waitParams,
    )
    .otherwise(cont);
  const hasWait = new sfn.Choice(scope, s('HasWait'), { stateName: STATES.hasWait })
    .when(present('$.waitSeconds'), waitPositive)
    .otherwise(cont);
  const errorStrings = new sfn.Choice(scope, s('ErrorFieldsAreStrings'), {
    stateName: STATES.errorFieldsAreStrings,
  })
    .when(
      sfn.Condition.and(sfn.Condition.isString('$.error.code'), sfn.Condition.isString('$.reason')),
      failed,
    )
    .otherwise(badResult);
  const hasError = new sfn.Choice(scope, s('HasErrorFields'), { stateName: STATES.hasErrorFields })
    .when(sfn.Condition.and(present('$.error.code'), present('$.reason')), errorStrings)
    .otherwise(badResult);
  const routeStatus = new sfn.Choice(scope, s('RouteStatus'), { stateName: STATES.routeStatus })
    .when(sfn.Condition.and(isStatus('continue'), present('$.runId')), hasWait)
    .when(
      sfn.Condition.and(isStatus('done'), present('$.runId'), present('$.records'), present('$.parts')),
      completed,
    )
    .when(isStatus('busy'), busyResult)
    .when(isStatus('failed'), hasError)
    .otherwise(badResult);
  const route = new sfn.Choice(scope, s('Route'), { stateName: STATES.route })
    .when(present('$.status'), routeStatus)
    .otherwise(badResult);
  invoke.next(route);

  const definition = new sfn.Choice(scope, s('Start'), { stateName: STATES.start })
    .when(sfn.Condition.isPresent('$.backfill'), startBackfill.next(invoke))
    .when(sfn.Condition.isPresent('$.runId'), startGivenRun.next(invoke))
    .otherwise(startRun.next(invoke));

  const logGroup = new logs.LogGroup(scope, `${id}LoopLogs`, {
    retention: props.logRetentionDays as logs.RetentionDays,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const sm = new sfn.StateMachine(scope, `${id}Loop`, {
    stateMachineName,
    comment: `qualys-export ${module}: one run across Lambda invocations (see docs/deploy.md)`,
    definitionBody: sfn.DefinitionBody.fromChainable(definition),
    timeout: Duration.hours(23),
  });
  // Tracing and logging set on the resource itself: the L2 options would add their '*' statements to the
  // role's default policy, where an acknowledgement would also cover any other '*' grant.
  const cfn = sm.node.defaultChild as sfn.CfnStateMachine;
  cfn.tracingConfiguration = { enabled: true };
  cfn.loggingConfiguration = {
    destinations: [{ cloudWatchLogsLogGroup: { logGroupArn: logGroup.logGroupArn } }],
    level: 'ALL',
    includeExecutionData: false,
  };
  props.xrayPolicy.attachToRole(sm.role);
  props.logDeliveryPolicy.attachToRole(sm.role);
  // Step Functions checks the log-delivery permission when the state machine is created.
  cfn.node.addDependency(props.logDeliveryPolicy);
  return sm;
}
