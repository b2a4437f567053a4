// Compare runs: the smoothed train and the eval loss of every run overlaid (one colour per run, eval
// dashed), and a table of what the chapter's "Full vs LoRA" comparison measures. Run labels and values
// reach the DOM through textContent only.
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import uPlot from 'uplot';
import type { CompareHostMessage, CompareRun, CompareWebviewMessage } from '../../protocol/panel';
import { ThemedChart, injectChartCss, type ChartData, type ChartSpec, type SeriesSpec } from '../common/chart';
import { axisControls, restoreAxisControlState, type AxisControlState } from '../common/controls';
import { el, injectStyle, pageNonce, section } from '../common/dom';
import { formatBytes, formatDuration, formatMetric, formatRate, formatShortCount, withCommas } from '../common/format';
import { RunModel, summarize, type RunSummary } from '../common/runModel';
import { PANEL_CSS } from '../common/styles';
import { chartTheme, watchTheme } from '../common/theme';
import { RedrawThrottle } from '../common/throttle';

const vscode = acquireVsCodeApi<AxisControlState>();
const state: AxisControlState = restoreAxisControlState(vscode.getState());
const nonce = pageNonce();
injectStyle(PANEL_CSS, nonce);
injectChartCss(nonce);

let runs: { run: CompareRun; model: RunModel }[] = [];

const app = document.getElementById('app') ?? document.body.appendChild(el('main'));
app.textContent = '';
app.removeAttribute('aria-busy');

const header = el('header', 'run-header');
const titleRow = el('div', 'title-row');
const title = el('h1', undefined, 'Compare runs');
title.id = 'title';
titleRow.append(title);
header.append(titleRow);

const lossCard = section('Loss');
const save = () => vscode.setState({ ...state });
const controls = axisControls(state, {
  onAxis: (axis) => {
    state.xAxis = axis;
    save();
    dirty.spec = true;
    throttle.request();
  },
  onSmoothing: (v) => {
    state.smoothing = v;
    save();
    for (const r of runs) r.model.setSmoothing(v);
    throttle.request();
  },
  onLog: (log) => {
    state.log = log;
    save();
    dirty.spec = true;
    throttle.request();
  },
});
const chartHost = el('div', 'chart');
chartHost.id = 'compare-chart';
const empty = el('div', 'empty', 'Waiting for runs…');
lossCard.body.append(controls, empty, chartHost);

const tableCard = section('Runs');
const table = el('table');
table.id = 'compare-table';
tableCard.body.append(table);

app.append(header, lossCard.root, tableCard.root);

const debug = { draws: 0, drawnAt: 0, points: 0, series: 0, runs: 0, chart: undefined as ThemedChart | undefined };
(window as unknown as { __compare: typeof debug }).__compare = debug;

function spec(): ChartSpec {
  const series: SeriesSpec[] = [];
  runs.forEach(({ run }, i) => {
    series.push({ label: `${run.label} train`, color: i, width: 2, spanGaps: true });
    series.push({ label: `${run.label} eval`, color: i, width: 1.5, dash: [6, 4], points: true, spanGaps: true });
  });
  return {
    xLabel: state.xAxis,
    yLabel: 'loss',
    log: state.log,
    height: 340,
    xFormat: state.xAxis === 'epoch' ? (v) => String(Number(v.toFixed(2))) : formatShortCount,
    series,
  };
}

const chart = new ThemedChart(chartHost, spec(), (c) => {
  debug.draws++;
  debug.drawnAt = performance.now();
  debug.points = c.points;
  debug.series = (c.plot?.series.length ?? 1) - 1;
});
debug.chart = chart;
watchTheme(() => {
  chart.rebuild(spec());
  renderTable();
  throttle.request();
});

/** Runs sample x differently (batch sizes, token counts): join them on the union of their x values. */
function chartData(): ChartData {
  const tables = runs.map(({ model }) => {
    const n = model.rows;
    return [Array.from(model.x(state.xAxis)), Array.from(model.smoothed.view()), model.evalLoss.slice(0, n)] as uPlot.AlignedData;
  });
  if (tables.length === 1) return tables[0] as ChartData;
  return uPlot.join(tables) as unknown as ChartData;
}

function drawChart(): void {
  const withData = runs.filter((r) => r.model.rows > 0);
  empty.hidden = withData.length > 0;
  if (!withData.length) {
    empty.textContent = runs.length ? 'None of these runs has logged a step yet.' : 'Waiting for runs…';
    return;
  }
  chart.setData(chartData());
}

function cell(text: string, className?: string): HTMLTableCellElement {
  return el('td', className, text);
}

function renderTable(): void {
  table.textContent = '';
  const head = el('thead');
  const hr = el('tr');
  for (const [label, num] of [
    ['Run', false],
    ['Status', false],
    ['Strategy', false],
    ['Trainable params', true],
    ['Ratio', true],
    ['Memory estimate', true],
    ['Wall time', true],
    ['Tokens/s (mean)', true],
    ['Final train loss', true],
    ['Best eval loss', true],
  ] as const) {
    hr.append(el('th', num ? 'num' : undefined, label));
  }
  head.append(hr);
  const body = el('tbody');
  const summaries: RunSummary[] = runs.map((r) => summarize(r.model));
  const evals = summaries.map((s) => s.bestEvalLoss).filter((v): v is number => v !== undefined);
  const bestEval = evals.length > 1 ? Math.min(...evals) : undefined;
  const theme = chartTheme();
  runs.forEach(({ run }, i) => {
    const s = summaries[i];
    const tr = el('tr');
    tr.dataset.runId = run.id;
    const name = el('td');
    const swatch = el('span', 'run-swatch');
    swatch.style.background = theme.palette[i % theme.palette.length];
    name.append(swatch, document.createTextNode(run.label));
    tr.append(
      name,
      cell(s.status),
      cell(s.strategy ?? '—'),
      cell(s.trainable !== undefined ? withCommas(s.trainable) : '—', 'num'),
      cell(s.ratio !== undefined ? `${(100 * s.ratio).toFixed(2)}%` : '—', 'num'),
      cell(s.memoryTotal !== undefined ? formatBytes(s.memoryTotal) : '—', 'num'),
      cell(formatDuration(s.wallSec), 'num'),
      cell(formatRate(s.meanTokensPerSec), 'num'),
      cell(formatMetric(s.finalTrainLoss), 'num'),
      cell(formatMetric(s.bestEvalLoss), s.bestEvalLoss !== undefined && s.bestEvalLoss === bestEval ? 'num best' : 'num'),
    );
    body.append(tr);
  });
  table.append(head, body);
}

let dirty = { chart: false, table: false, spec: false };
function render(): void {
  if (dirty.spec) chart.rebuild(spec());
  if (dirty.table) renderTable();
  drawChart();
  dirty = { chart: false, table: false, spec: false };
}
const throttle = new RedrawThrottle(render, 100);

window.addEventListener('message', (event: MessageEvent<CompareHostMessage>) => {
  const msg = event.data;
  if (!msg || typeof msg !== 'object' || msg.type !== 'runs' || !Array.isArray(msg.runs)) return;
  runs = msg.runs
    .filter((r) => r && Array.isArray(r.events))
    .map((run) => {
      const model = new RunModel(state.smoothing);
      model.apply(run.events);
      return { run: { id: String(run.id), label: String(run.label ?? run.id), events: [] }, model };
    });
  debug.runs = runs.length;
  title.textContent = runs.length ? `Compare runs: ${runs.map((r) => r.run.label).join(' vs ')}` : 'Compare runs';
  dirty = { chart: true, table: true, spec: true };
  throttle.request();
});

renderTable();
const ready: CompareWebviewMessage = { type: 'ready' };
vscode.postMessage(ready);
