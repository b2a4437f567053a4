// The cluster job's loss curve (`finetune import` of a run exported with `finetune export --to trl`):
// TRL's logged training loss and eval loss by optimizer step, in a chart of its own beside the local
// run's loss chart. Hidden until the run has imported results. Text reaches the DOM through textContent.
import { ThemedChart, type ChartSpec } from '../common/chart';
import { el, section } from '../common/dom';
import { formatMetric, withCommas } from '../common/format';
import type { ClusterEvent } from '../../protocol/trainer';
import { clusterChartData } from './clusterSeries';

export interface ClusterView {
  root: HTMLElement;
  chart: ThemedChart;
  spec(log: boolean): ChartSpec;
  render(cluster: ClusterEvent | undefined): void;
}

export function clusterView(onDraw: (points: number) => void): ClusterView {
  const card = section('Cluster job loss (TRL)');
  card.root.id = 'cluster-card';
  card.root.hidden = true;
  const summary = el('p', 'muted');
  summary.id = 'cluster-summary';
  const host = el('div', 'chart');
  host.id = 'cluster-chart';
  card.body.append(summary, host);
  const spec = (log: boolean): ChartSpec => ({
    xLabel: 'step',
    yLabel: 'loss',
    log,
    height: 240,
    series: [
      { label: 'cluster train', color: 4, width: 2 },
      { label: 'cluster eval', color: 1, width: 2, points: true, spanGaps: true },
    ],
  });
  const chart = new ThemedChart(host, spec(false), (c) => onDraw(c.points));
  return {
    root: card.root,
    chart,
    spec,
    render(cluster) {
      card.root.hidden = !cluster || cluster.steps.length === 0;
      if (!cluster || card.root.hidden) return;
      const last = cluster.steps[cluster.steps.length - 1];
      const best = cluster.evals.length ? Math.min(...cluster.evals.map((e) => e.loss)) : undefined;
      summary.textContent =
        `${withCommas(cluster.steps.length)} logged step(s) to step ${withCommas(last.step)}, last train loss ${formatMetric(last.loss)}` +
        (best !== undefined ? `, best eval loss ${formatMetric(best)}` : '') +
        ` · imported from ${cluster.job} · model in ${cluster.outputDir}`;
      chart.setData(clusterChartData(cluster));
    },
  };
}
