// The cluster job's loss curve as the chart draws it: pure (no DOM, no uPlot), so node's tests check it.
import type { ClusterEvent } from '../../protocol/trainer';

/** uPlot's aligned data: the union of the logged steps, the train loss and the eval loss (null where not logged). */
export function clusterChartData(cluster: Pick<ClusterEvent, 'steps' | 'evals'>): [Float64Array, (number | null)[], (number | null)[]] {
  const steps = [...new Set([...cluster.steps.map((s) => s.step), ...cluster.evals.map((e) => e.step)])].sort((a, b) => a - b);
  const train = new Map(cluster.steps.map((s) => [s.step, s.loss]));
  const evals = new Map(cluster.evals.map((e) => [e.step, e.loss]));
  return [Float64Array.from(steps), steps.map((s) => train.get(s) ?? null), steps.map((s) => evals.get(s) ?? null)];
}
