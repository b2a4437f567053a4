// Eval accuracy of a classification-head run: a curve of accuracy by step (epoch, tokens) and the latest
// eval's per-class counts. Hidden for runs whose evals carry no accuracy. Labels reach the DOM through
// textContent only.
import { ThemedChart, type ChartSpec } from '../common/chart';
import { el, section } from '../common/dom';
import { withCommas } from '../common/format';
import type { RunModel, XAxis } from '../common/runModel';

export function formatAccuracy(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '—' : `${(100 * v).toFixed(1)}%`;
}

export interface AccuracyView {
  root: HTMLElement;
  chart: ThemedChart;
  spec(axis: XAxis, xLabel: string, xFormat: (v: number) => string): ChartSpec;
  render(model: RunModel, axis: XAxis): void;
}

export function accuracyView(onDraw: (points: number) => void): AccuracyView {
  const card = section('Eval accuracy');
  card.root.id = 'accuracy-card';
  card.root.hidden = true;
  const summary = el('p', 'muted');
  summary.id = 'accuracy-summary';
  const host = el('div', 'chart');
  host.id = 'accuracy-chart';
  const tableTitle = el('h2', 'muted');
  tableTitle.id = 'per-class-title';
  const table = el('table');
  table.id = 'per-class';
  card.body.append(summary, host, tableTitle, table);

  const spec = (_axis: XAxis, xLabel: string, xFormat: (v: number) => string): ChartSpec => ({
    xLabel,
    yLabel: 'accuracy',
    log: false,
    height: 180,
    xFormat,
    yFormat: (v) => `${Math.round(100 * v)}%`,
    series: [{ label: 'eval accuracy', color: 1, width: 2, points: true, spanGaps: true }],
  });
  const chart = new ThemedChart(host, spec('step', 'step', String), (c) => onDraw(c.points));

  return {
    root: card.root,
    chart,
    spec,
    render(model, axis) {
      const last = model.lastAccuracy;
      const perClass = model.latestPerClass();
      card.root.hidden = last === undefined && perClass === undefined;
      if (card.root.hidden) return;
      const best = model.bestAccuracy;
      summary.textContent = `Latest ${formatAccuracy(last)} · best ${formatAccuracy(best)} over ${model.evals.length} evaluation${model.evals.length === 1 ? '' : 's'}`;
      if (model.rows > 0 && last !== undefined) chart.setData(model.accuracyChartData(axis));
      table.textContent = '';
      tableTitle.textContent = perClass ? `Per class at step ${withCommas(perClass.step)}` : '';
      if (!perClass) return;
      const head = el('thead');
      const hr = el('tr');
      hr.append(el('th', undefined, 'Label'), el('th', 'num', 'Correct'), el('th', 'num', 'Examples'), el('th', 'num', 'Accuracy'));
      head.append(hr);
      const body = el('tbody');
      let correct = 0;
      let total = 0;
      for (const r of perClass.rows) {
        const tr = el('tr');
        tr.append(
          el('td', 'mono', r.label),
          el('td', 'num', withCommas(r.correct)),
          el('td', 'num', withCommas(r.total)),
          el('td', 'num', formatAccuracy(r.accuracy)),
        );
        body.append(tr);
        correct += r.correct;
        total += r.total;
      }
      const tr = el('tr', 'total');
      tr.append(
        el('td', undefined, 'All'),
        el('td', 'num', withCommas(correct)),
        el('td', 'num', withCommas(total)),
        el('td', 'num', formatAccuracy(total > 0 ? correct / total : undefined)),
      );
      body.append(tr);
      table.append(head, body);
    },
  };
}
