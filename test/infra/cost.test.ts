// The fixed monthly cost in docs/cost.md (and per tenant in docs/deploy.md), recounted from the synthesized
// templates: alarms bill per metric they read (a metric-math alarm reads several), plus the custom metrics the
// functions emit, dashboards, secrets and KMS keys. A figure in the docs that the template no longer supports fails.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it, vi } from 'vitest';
import { buildStack } from '../../infra/build';
import { MODULES } from '../../shared/config';
import { EXPORT_METRICS, TOKEN_METRICS } from '../../shared/metrics-names';

// Synthesizing (and cdk-nag checking) whole stacks takes tens of seconds on a loaded 2-core machine.
vi.setConfig({ testTimeout: 240_000, hookTimeout: 240_000 });

const ROOT = join(import.meta.dirname, '..', '..');
const cdkJson = JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as {
  context: Record<string, unknown>;
};
const doc = (f: string) => readFileSync(join(ROOT, 'docs', f), 'utf8');

/** us-east-1 list prices, as docs/cost.md states them. */
const PRICE = { alarmMetric: 0.1, customMetric: 0.3, secret: 0.4, kmsKey: 1, dashboard: 3 };

interface Inventory {
  alarms: number;
  /** What alarms bill: one per metric each alarm reads (MetricStat entries of a metric-math alarm). */
  alarmMetrics: number;
  dashboards: number;
  secrets: number;
  kmsKeys: number;
}

function inventory(templates: Template[]): Inventory {
  const inv: Inventory = { alarms: 0, alarmMetrics: 0, dashboards: 0, secrets: 0, kmsKeys: 0 };
  for (const t of templates) {
    const resources = Object.values(
      t.toJSON().Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>,
    );
    for (const r of resources) {
      if (r.Type === 'AWS::CloudWatch::Alarm') {
        inv.alarms++;
        const metrics = r.Properties.Metrics as { MetricStat?: unknown }[] | undefined;
        inv.alarmMetrics += metrics ? metrics.filter((m) => m.MetricStat).length : 1;
      }
      if (r.Type === 'AWS::CloudWatch::Dashboard') inv.dashboards++;
      if (r.Type === 'AWS::SecretsManager::Secret') inv.secrets++;
      if (r.Type === 'AWS::KMS::Key') inv.kmsKeys++;
    }
  }
  return inv;
}

function synth(extra: Record<string, unknown> = {}) {
  const app = new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [], ...extra } });
  const { stack } = buildStack(app);
  return { stack, root: Template.fromStack(stack) };
}

const dollars = (n: number) => `$${n.toFixed(2)}`;
/** The cells of the docs table row whose first cell starts with `label`. */
function row(text: string, label: string): string[] {
  const line = text.split('\n').find((l) => l.split('|')[1]?.trim() === label);
  expect(line, `a "${label}" row`).toBeDefined();
  return line!
    .split('|')
    .slice(1, -1)
    .map((c) => c.trim());
}

const customMetrics = (modules: number) =>
  Object.keys(EXPORT_METRICS).length * modules + Object.keys(TOKEN_METRICS).length;

describe('docs/cost.md: the fixed cost, recounted from the default template', () => {
  const { root } = synth();
  const inv = inventory([root]);
  const text = doc('cost.md');

  it('prints the inventory', () => {
    console.info(
      `fixed cost inventory (default stack): ${inv.alarms} alarms reading ${inv.alarmMetrics} metrics, ` +
        `${customMetrics(MODULES.length)} custom metrics, ${inv.dashboards} dashboard, ${inv.secrets} secrets, ${inv.kmsKeys} KMS key(s)`,
    );
    expect(inv.alarmMetrics).toBeGreaterThan(inv.alarms);
  });

  it('alarms: each metric an alarm reads is billed', () => {
    const [, quantity, cost] = row(text, 'CloudWatch alarms');
    expect(quantity).toContain(`${inv.alarms} alarms reading ${inv.alarmMetrics} metrics`);
    expect(cost).toBe(dollars(inv.alarmMetrics * PRICE.alarmMetric));
  });

  it('custom metrics: every metric the functions emit, per module and for the token', () => {
    const [, quantity, cost] = row(text, 'CloudWatch custom metrics (EMF)');
    const n = customMetrics(MODULES.length);
    expect(quantity).toContain(
      `${Object.keys(EXPORT_METRICS).length} per module × ${MODULES.length} + ${Object.keys(TOKEN_METRICS).length} token metrics = ${n}`,
    );
    expect(cost).toBe(dollars(n * PRICE.customMetric));
  });

  it('dashboards, secrets and KMS keys', () => {
    expect(row(text, 'CloudWatch dashboard')[1]).toMatch(new RegExp(`^${inv.dashboards}\\b`));
    const [, secrets, secretsCost] = row(text, 'Secrets');
    expect(secrets).toMatch(new RegExp(`^${inv.secrets}\\b`));
    expect(secretsCost).toBe(dollars(inv.secrets * PRICE.secret));
    expect(inv.kmsKeys).toBe(1);
    expect(inventory([synth({ kms: true }).root]).kmsKeys).toBe(2);
    expect(row(text, 'KMS keys')[2]).toBe(`${dollars(PRICE.kmsKey)} (+ ${dollars(PRICE.kmsKey)})`);
  });

  it('the total is the sum of the rows', () => {
    const fixed =
      inv.alarmMetrics * PRICE.alarmMetric +
      customMetrics(MODULES.length) * PRICE.customMetric +
      inv.secrets * PRICE.secret +
      PRICE.kmsKey;
    // Plus the token refresh (≈ $0.02) and Step Functions (≈ $0.06) rows; dashboard $0–3, data key $0–1.
    const low = Math.round(fixed + 0.08);
    const high = Math.round(fixed + 0.08 + PRICE.dashboard + PRICE.kmsKey);
    expect(row(text, '**total**')[2]).toBe(`**≈ $${low}–${high}**`);
  });
});

describe('docs/deploy.md: the fixed cost of one full tenant', () => {
  it('alarms and custom metrics of a tenant exporting every module, from its nested template', () => {
    const { stack } = synth({ tenants: [{ id: 'acme' }] });
    const inv = inventory([Template.fromStack(stack.tenantStacks.acme!)]);
    const text = doc('deploy.md');
    expect(text).toContain(
      `${inv.alarms} alarms reading ${inv.alarmMetrics} metrics × ${dollars(PRICE.alarmMetric)} = **${dollars(inv.alarmMetrics * PRICE.alarmMetric)}**`,
    );
    const n = customMetrics(MODULES.length);
    expect(text).toContain(
      `custom metrics ${Object.keys(EXPORT_METRICS).length} per module × ${MODULES.length} + ${Object.keys(TOKEN_METRICS).length} for the token = ${n} × ${dollars(PRICE.customMetric)} = **${dollars(n * PRICE.customMetric)}**`,
    );
    expect(text).toContain(
      `${inv.secrets} secrets × ${dollars(PRICE.secret)} = **${dollars(inv.secrets * PRICE.secret)}**`,
    );
  });
});
