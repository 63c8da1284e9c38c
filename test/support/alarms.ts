/**
 * Applies the CloudWatch alarms of a synthesized template to datapoints gathered in a test: the alarm's own
 * namespace, metric name, exact dimension set, statistic, threshold, comparison and missing-data treatment, and
 * the metric-math expressions the stack uses (`FILL(x, n)`, `+`, `-`, `MAX([…])`). Everything seen in the test
 * counts as one period, so an alarm is in ALARM when that period breaches; the number of periods an alarm
 * needs in a row is CloudWatch's business and not modelled.
 */

/** One value of one metric, as CloudWatch would record it. Dimension values are strings ('ref:<id>' for a Ref). */
export interface Datapoint {
  namespace: string;
  name: string;
  dims: Record<string, string>;
  value: number;
}

type Json = Record<string, unknown>;

/** A dimension value or other CloudFormation value as a string: literal, 'ref:<logical id>' or '<id>.<attr>'. */
export function cfnString(v: unknown): string {
  if (typeof v === 'string') return v;
  const o = v as Json;
  if (o && 'Ref' in o) return `ref:${o.Ref as string}`;
  if (o && 'Fn::GetAtt' in o) return (o['Fn::GetAtt'] as string[]).join('.');
  if (o && 'Fn::Join' in o) {
    const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
    return parts.map(cfnString).join(sep);
  }
  throw new Error(`unsupported CloudFormation value ${JSON.stringify(v)}`);
}

/** The datapoints of the embedded-metric-format lines among `lines` (anything else is ignored). */
export function emfDatapoints(lines: string[]): Datapoint[] {
  const out: Datapoint[] = [];
  for (const line of lines) {
    if (!line.startsWith('{"_aws"')) continue;
    const emf = JSON.parse(line) as {
      _aws: {
        CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[];
      };
    } & Json;
    for (const d of emf._aws.CloudWatchMetrics) {
      for (const set of d.Dimensions) {
        const dims = Object.fromEntries(set.map((k) => [k, String(emf[k])]));
        for (const m of d.Metrics) {
          const value = emf[m.Name];
          if (typeof value === 'number') out.push({ namespace: d.Namespace, name: m.Name, dims, value });
        }
      }
    }
  }
  return out;
}

interface MetricRef {
  Namespace: string;
  MetricName: string;
  Dimensions?: { Name: string; Value: unknown }[];
}

function statOf(points: Datapoint[], metric: MetricRef, stat: string): number | undefined {
  const want = Object.fromEntries((metric.Dimensions ?? []).map((d) => [d.Name, cfnString(d.Value)]));
  const wantKeys = Object.keys(want).sort().join('\0');
  const values = points
    .filter(
      (p) =>
        p.namespace === metric.Namespace &&
        p.name === metric.MetricName &&
        Object.keys(p.dims).sort().join('\0') === wantKeys &&
        Object.entries(want).every(([k, v]) => p.dims[k] === v),
    )
    .map((p) => p.value);
  if (!values.length) return undefined;
  switch (stat) {
    case 'Sum':
      return values.reduce((a, b) => a + b, 0);
    case 'Maximum':
      return Math.max(...values);
    case 'Minimum':
      return Math.min(...values);
    case 'Average':
      return values.reduce((a, b) => a + b, 0) / values.length;
    case 'SampleCount':
      return values.length;
    default:
      throw new Error(`statistic ${stat} is not modelled`);
  }
}

/** Evaluates a metric-math expression of the forms the stack uses; undefined = no data. */
function evaluate(expr: string, vars: Record<string, number | undefined>): number | undefined {
  const tokens = expr.match(/[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?|[()[\],+-]/g) ?? [];
  let i = 0;
  const peek = () => tokens[i];
  const take = (t?: string) => {
    const v = tokens[i++];
    if (t !== undefined && v !== t) throw new Error(`expected '${t}' in '${expr}', got '${v}'`);
    return v!;
  };
  const sum = (): number | undefined => {
    let acc = term();
    while (peek() === '+' || peek() === '-') {
      const op = take();
      const rhs = term();
      acc = acc === undefined || rhs === undefined ? undefined : op === '+' ? acc + rhs : acc - rhs;
    }
    return acc;
  };
  const term = (): number | undefined => {
    const t = take();
    if (t === '(') {
      const v = sum();
      take(')');
      return v;
    }
    if (/^\d/.test(t)) return Number(t);
    if (t === 'FILL') {
      take('(');
      const v = sum();
      take(',');
      const fill = Number(take());
      take(')');
      return v ?? fill;
    }
    if (t === 'MAX') {
      take('(');
      take('[');
      const vals = [sum()];
      while (peek() === ',') {
        take(',');
        vals.push(sum());
      }
      take(']');
      take(')');
      const defined = vals.filter((v): v is number => v !== undefined);
      return defined.length ? Math.max(...defined) : undefined;
    }
    if (!(t in vars)) throw new Error(`unknown id '${t}' in '${expr}'`);
    return vars[t];
  };
  const v = sum();
  if (i !== tokens.length) throw new Error(`unparsed rest of '${expr}'`);
  return v;
}

const COMPARE: Record<string, (v: number, t: number) => boolean> = {
  GreaterThanThreshold: (v, t) => v > t,
  GreaterThanOrEqualToThreshold: (v, t) => v >= t,
  LessThanThreshold: (v, t) => v < t,
  LessThanOrEqualToThreshold: (v, t) => v <= t,
};

/** 'ALARM' or 'OK' for one AWS::CloudWatch::Alarm's properties over `points`. */
export function alarmState(props: Json, points: Datapoint[]): 'ALARM' | 'OK' {
  let value: number | undefined;
  if (props.Metrics) {
    const metrics = props.Metrics as {
      Id: string;
      Expression?: string;
      MetricStat?: { Metric: MetricRef; Stat: string };
      ReturnData?: boolean;
    }[];
    const vars: Record<string, number | undefined> = {};
    for (const m of metrics)
      if (m.MetricStat) vars[m.Id] = statOf(points, m.MetricStat.Metric, m.MetricStat.Stat);
    const out = metrics.filter((m) => m.ReturnData !== false && m.Expression);
    if (out.length !== 1)
      throw new Error(`alarm ${String(props.AlarmName)}: expected one returned expression`);
    value = evaluate(out[0]!.Expression!, vars);
  } else {
    value = statOf(points, props as unknown as MetricRef, props.Statistic as string);
  }
  if (value === undefined) return props.TreatMissingData === 'breaching' ? 'ALARM' : 'OK';
  const cmp = COMPARE[props.ComparisonOperator as string];
  if (!cmp) throw new Error(`comparison ${String(props.ComparisonOperator)} is not modelled`);
  return cmp(value, props.Threshold as number) ? 'ALARM' : 'OK';
}
