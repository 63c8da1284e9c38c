// What the XML truncation modules keep in the state file matches its declared shape (shared/modules/state-shapes.ts)
// at every checkpoint of runs interrupted at random points, and once committed: issue 19 can validate state
// files against these declarations.
import { afterEach, describe, expect, it } from 'vitest';
import type { ModuleName } from '../../shared/config';
import { runExport } from '../../shared/export/engine';
import { getModule } from '../../shared/modules';
import {
  INCREMENT_COMMITTED,
  KB_CURSOR,
  MOBILE_CURSOR,
  VMDR_CURSOR,
} from '../../shared/modules/state-shapes';
import { differences, type Shape } from '../../shared/qualys/shapes';
import { onlyCounts } from '../sim';
import { randomPageBudgets, readStateFile, simRuns, testClient } from '../support/harness';

const runs = simRuns();
afterEach(() => runs.cleanup());

const CASES: [ModuleName, Shape][] = [
  ['vmdr-detections', VMDR_CURSOR],
  ['knowledgebase', KB_CURSOR],
  ['mobile-assets', MOBILE_CURSOR],
];

describe('state shapes of the XML truncation modules', () => {
  it.each(CASES)(
    '%s: every checkpoint and the committed state match their declared shapes',
    async (module, shape) => {
      const { sim, config, store } = await runs.start({
        seed: 12,
        counts: onlyCounts(module, 47),
        dialect: { kbTruncation: 10, kbOrder: 'ascending' },
      });
      const client = testClient(sim, config);
      const budget = randomPageBudgets(5, 3);
      let result;
      let checkpoints = 0;
      for (let i = 0; i < 200; i++) {
        result = await runExport({
          module: getModule(module),
          config,
          client,
          store,
          invocation: result?.runId ? { continuation: { runId: result.runId } } : {},
          deadline: budget(),
          safetyMs: 0,
          now: () => new Date('2026-01-02T00:00:00.000Z'),
        });
        const state = await readStateFile(store, config, module);
        if (state?.inProgress) {
          checkpoints++;
          expect(
            differences(shape, state.inProgress.cursor),
            JSON.stringify(state.inProgress.cursor),
          ).toEqual([]);
          expect(JSON.stringify(state.inProgress.cursor)).not.toMatch(/https?:\/\//);
        }
        if (result.status !== 'continue') break;
      }
      expect(result!.status).toBe('done');
      expect(checkpoints).toBeGreaterThan(1);
      const state = await readStateFile(store, config, module);
      if (module !== 'mobile-assets') {
        expect(differences(INCREMENT_COMMITTED, state!.committed), JSON.stringify(state!.committed)).toEqual(
          [],
        );
      }
      // A damaged checkpoint is told apart: the shape check names what differs.
      expect(differences(shape, { params: {}, idMin: 'x1', batches: -1 }).length).toBeGreaterThan(0);
    },
  );
});
