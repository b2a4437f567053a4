// The training panel: header, loss and learning-rate charts, parameter breakdown, memory estimate,
// config and log of one run, rebuilt from the host's event backlog and kept live by its batches.
// Events only feed the model (O(1) each); the DOM and the charts are redrawn at most ~10 times a second
// from what changed. Run data reaches the DOM through textContent only.
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import type { RunPanelHostMessage, RunPanelWebviewMessage, RunStatus } from '../../protocol/panel';
import { RUN_STATUSES } from '../../protocol/panel';
import { ThemedChart, injectChartCss, type ChartSpec } from '../common/chart';
import { el, injectStyle, keyValueTable, pageNonce, section } from '../common/dom';
import { formatBytes, formatConfigValue, formatDuration, formatMetric, formatRate, formatShortCount, withCommas } from '../common/format';
import { RunModel, groupsByKind, type XAxis } from '../common/runModel';
import { PANEL_CSS } from '../common/styles';
import { watchTheme } from '../common/theme';
import { RedrawThrottle } from '../common/throttle';
import { axisControls, restoreAxisControlState, type AxisControlState } from '../common/controls';
import { accuracyView, formatAccuracy } from './accuracyView';
import { clusterView } from './clusterView';
import { dataSummaryLine } from './dataSummary';
import { TRY_IT_CSS, tryItBox } from './tryItBox';

const vscode = acquireVsCodeApi<AxisControlState>();
const state: AxisControlState = restoreAxisControlState(vscode.getState());

const nonce = pageNonce();
injectStyle(PANEL_CSS, nonce);
injectChartCss(nonce);
injectStyle(TRY_IT_CSS, nonce);

let model = new RunModel(state.smoothing);

function post(message: RunPanelWebviewMessage): void {
  vscode.postMessage(message);
}

// ---------------------------------------------------------------------------------------------------
// Layout

const app = document.getElementById('app') ?? document.body.appendChild(el('main'));
app.textContent = '';
app.removeAttribute('aria-busy');

const header = el('header', 'run-header');
const titleRow = el('div', 'title-row');
const statusBadge = el('span', 'status status-waiting', 'waiting');
statusBadge.id = 'status';
statusBadge.setAttribute('role', 'status');
const title = el('h1', undefined, 'Training run');
title.id = 'title';
const actions = el('div', 'actions');
type Button = HTMLElement & { disabled: boolean; secondary: boolean };
function button(id: string, label: string, secondary: boolean, onClick: () => void): Button {
  const b = document.createElement('vscode-button') as Button;
  b.id = id;
  b.textContent = label;
  b.secondary = secondary;
  b.addEventListener('click', () => {
    if (!b.disabled) onClick();
  });
  return b;
}
let stopRequested = false;
const stopButton = button('stop', 'Stop', false, () => {
  stopRequested = true;
  post({ type: 'stop' });
  renderHeader();
});
stopButton.disabled = true;
// Resume: a stopped or failed run that left a checkpoint continues in this panel (the host checks).
const resumeButton = button('resume', 'Resume', false, () => post({ type: 'resume' }));
resumeButton.hidden = true;
actions.append(
  stopButton,
  resumeButton,
  button('open-output', 'Open Output Folder', true, () => post({ type: 'openOutput' })),
  button('open-log', 'Open Log', true, () => post({ type: 'openLog' })),
  // The run as a TRL + Accelerate job for a GPU cluster, and that job's results back (the host runs the CLI).
  button('export-cluster', 'Export as Cluster Job…', true, () => post({ type: 'exportCluster' })),
  button('import-cluster', 'Import Cluster Results…', true, () => post({ type: 'importCluster' })),
);
titleRow.append(statusBadge, title, actions);

const facts = el('dl', 'facts');
facts.id = 'facts';
const factValues = new Map<string, HTMLElement>();
function fact(key: string, label: string, wide = false): HTMLElement {
  const wrap = el('div', wide ? 'wide' : undefined);
  const dd = el('dd', undefined, '—');
  dd.id = `fact-${key}`;
  wrap.append(el('dt', undefined, label), dd);
  facts.append(wrap);
  factValues.set(key, dd);
  return wrap;
}
fact('step', 'Step');
fact('epoch', 'Epoch');
fact('loss', 'Loss (smoothed)');
fact('eval', 'Best eval loss');
// Classification-head runs only.
const accuracyFact = fact('accuracy', 'Eval accuracy');
accuracyFact.hidden = true;
fact('elapsed', 'Elapsed');
fact('eta', 'ETA');
fact('throughput', 'Throughput');
fact('strategy', 'Strategy');
fact('backend', 'Backend / device', true);
fact('model', 'Model', true);
fact('dataset', 'Dataset', true);
fact('output', 'Output', true);
header.append(titleRow, facts);

const errorBox = el('div', 'error-box');
errorBox.id = 'error';
errorBox.setAttribute('role', 'alert');
errorBox.hidden = true;

// Loss chart and its controls.
const loss = section('Loss');
loss.root.id = 'loss-card';
const controls = axisControls(state, {
  onAxis: (axis) => {
    state.xAxis = axis;
    saveState();
    rebuildCharts();
  },
  onSmoothing: (v) => {
    state.smoothing = v;
    saveState();
    model.setSmoothing(v);
    throttle.request();
  },
  onLog: (log) => {
    state.log = log;
    saveState();
    rebuildCharts();
  },
});
const lossHost = el('div', 'chart');
lossHost.id = 'loss-chart';
const lossEmpty = el('div', 'empty', 'Waiting for the first step…');
loss.body.append(controls, lossEmpty, lossHost);

const lrCard = section('Learning rate');
const lrHost = el('div', 'chart');
lrHost.id = 'lr-chart';
lrCard.body.append(lrHost);

const grid = el('div', 'grid2');
const paramsCard = section('Parameters');
paramsCard.root.id = 'params';
paramsCard.body.append(el('div', 'empty', 'No parameter breakdown yet.'));
const memoryCard = section('Memory estimate');
memoryCard.root.id = 'memory';
memoryCard.body.append(el('div', 'empty', 'No memory estimate yet.'));
const configCard = section('Configuration');
configCard.root.id = 'config';
configCard.body.append(el('div', 'empty', 'No configuration yet.'));
const logCard = section('Log');
logCard.root.id = 'log';
const logList = el('ul', 'log-list');
logCard.body.append(logList);
logCard.root.hidden = true;
grid.append(paramsCard.root, memoryCard.root);

const tryIt = tryItBox(post);
const accuracy = accuracyView((points) => {
  debug.accuracyPoints = points;
});
const cluster = clusterView(() => {});

app.append(header, errorBox, tryIt.root, loss.root, cluster.root, accuracy.root, lrCard.root, grid, configCard.root, logCard.root);

// ---------------------------------------------------------------------------------------------------
// Charts

/** What the browser tests read: the model, the charts and when they last finished drawing. */
const debug = {
  get model() {
    return model;
  },
  renders: 0,
  /** When the last batch arrived, how long applying it took, when the last redraw began and its length. */
  receivedAt: 0,
  applyMs: 0,
  renderStartAt: 0,
  renderMs: 0,
  /** From the start of the last redraw to the loss chart's finished draw. */
  frameMs: 0,
  lossDraws: 0,
  lossDrawnAt: 0,
  lossPoints: 0,
  lrPoints: 0,
  accuracyPoints: 0,
  charts: {} as { loss?: ThemedChart; lr?: ThemedChart; accuracy?: ThemedChart },
};
(window as unknown as { __runPanel: typeof debug }).__runPanel = debug;

const X_LABELS: Record<XAxis, string> = { step: 'step', epoch: 'epoch', tokens: 'tokens' };
const xFormat = (axis: XAxis) => (axis === 'epoch' ? (v: number) => String(Number(v.toFixed(2))) : formatShortCount);

function lossSpec(): ChartSpec {
  const tasks = model.taskNames.map((t, i) => ({ label: `task ${t}`, color: 2 + (i % 4), width: 1.25, dash: [4, 3], spanGaps: true }));
  return {
    xLabel: X_LABELS[state.xAxis],
    yLabel: 'loss',
    log: state.log,
    height: 300,
    xFormat: xFormat(state.xAxis),
    series: [
      { label: 'train', color: 0, width: 1, alpha: 0.3 },
      { label: 'train (smoothed)', color: 0, width: 2 },
      { label: 'eval', color: 1, width: 2, points: true, spanGaps: true },
      ...tasks,
    ],
  };
}

function lrSpec(): ChartSpec {
  return {
    xLabel: X_LABELS[state.xAxis],
    yLabel: 'learning rate',
    log: false,
    height: 160,
    xFormat: xFormat(state.xAxis),
    yFormat: (v) => (v === 0 ? '0' : v.toExponential(1)),
    series: [{ label: 'lr', color: 3, width: 1.5 }],
  };
}

const lossChart = new ThemedChart(lossHost, lossSpec(), (c) => {
  debug.lossDraws++;
  debug.lossDrawnAt = performance.now();
  if (debug.lossDrawnAt >= debug.renderStartAt) debug.frameMs = debug.lossDrawnAt - debug.renderStartAt;
  debug.lossPoints = c.points;
});
const lrChart = new ThemedChart(lrHost, lrSpec(), (c) => {
  debug.lrPoints = c.points;
});
debug.charts = { loss: lossChart, lr: lrChart, accuracy: accuracy.chart };

function accuracySpec(): ChartSpec {
  return accuracy.spec(state.xAxis, X_LABELS[state.xAxis], xFormat(state.xAxis));
}

function rebuildCharts(): void {
  lossChart.rebuild(lossSpec());
  lrChart.rebuild(lrSpec());
  accuracy.chart.rebuild(accuracySpec());
  cluster.chart.rebuild(cluster.spec(state.log));
  cluster.render(model.cluster);
  drawCharts();
}

function drawCharts(): void {
  if (model.rows === 0) {
    lossEmpty.hidden = false;
    return;
  }
  lossEmpty.hidden = true;
  lossChart.setData(model.lossChartData(state.xAxis));
  lrChart.setData(model.lrChartData(state.xAxis));
  accuracy.render(model, state.xAxis);
}

watchTheme(rebuildCharts);

function saveState(): void {
  vscode.setState({ ...state });
}

// ---------------------------------------------------------------------------------------------------
// Rendering what changed

function setFact(key: string, text: string): void {
  const dd = factValues.get(key)!;
  if (dd.textContent !== text) dd.textContent = text;
}

function renderHeader(): void {
  const status: RunStatus = model.status;
  statusBadge.textContent = status;
  statusBadge.className = `status status-${status}`;
  if (status !== 'running') stopRequested = false;
  stopButton.disabled = status !== 'running' || stopRequested;
  stopButton.textContent = stopRequested ? 'Stopping…' : 'Stop';
  const resumable = (status === 'stopped' || status === 'failed') && (!!model.done?.checkpoint || model.checkpoints.length > 0);
  resumeButton.hidden = !resumable;

  const start = model.start;
  const cfg = start?.config;
  const last = model.lastStep;
  title.textContent = cfg ? `${cfg.model} · ${cfg.strategy}` : 'Training run';
  setFact('model', cfg?.model ?? '—');
  setFact('strategy', cfg ? strategyText(cfg) : '—');
  setFact('backend', start ? `${start.backend} / ${start.device}${start.backendNote ? ` (${start.backendNote})` : ''}` : '—');
  setFact('dataset', cfg?.data ?? '—');
  const total = start?.totalSteps;
  setFact('step', last ? `${withCommas(last.step)}${total ? ` / ${withCommas(total)}` : ''}` : total ? `0 / ${withCommas(total)}` : '—');
  const epochs = cfg && start && start.stepsPerEpoch > 0 && total ? total / start.stepsPerEpoch : undefined;
  setFact('epoch', last ? `${last.epoch.toFixed(2)}${epochs ? ` / ${Number(epochs.toFixed(2))}` : ''}` : '—');
  setFact('loss', model.rows ? formatMetric(model.smoothed.last()) : '—');
  setFact('eval', formatMetric(model.bestEvalLoss));
  const lastAccuracy = model.lastAccuracy;
  accuracyFact.hidden = lastAccuracy === undefined;
  setFact('accuracy', formatAccuracy(lastAccuracy));
  setFact('elapsed', formatDuration(model.elapsedSec));
  setFact('eta', status === 'running' ? formatDuration(last?.etaSec) : '—');
  setFact('throughput', last ? formatRate(status === 'running' ? last.tokensPerSec : model.meanTokensPerSec) : '—');
  setFact('output', model.done?.outputDir ?? model.checkpoints.at(-1)?.path ?? cfg?.out ?? '—');

  // Try It: a finished run with an output (the host says why when it cannot generate with it).
  const finished = status === 'completed' || status === 'stopped' || status === 'early-stopped';
  tryIt.update(finished && !!model.done?.outputDir && cfg?.head !== 'classification', start?.dataset?.format);

  const failure = model.failureMessage;
  errorBox.hidden = failure === undefined;
  if (failure !== undefined) {
    errorBox.textContent = failure;
    if (model.error?.stack) {
      const stack = el('pre', 'mono', model.error.stack);
      errorBox.append(stack);
    }
  } else if (model.done?.status === 'stopped' || model.done?.status === 'early-stopped') {
    // Not an error: nothing to show in the box.
  }
}

function strategyText(cfg: NonNullable<RunModel['start']>['config']): string {
  if (cfg.strategy === 'lora') {
    const targets = Array.isArray(cfg.loraTargets) ? cfg.loraTargets.join(',') : cfg.loraTargets;
    return `LoRA r=${cfg.loraR} α=${cfg.loraAlpha} (${targets})${headText(cfg)}`;
  }
  if (cfg.strategy === 'partial') return `partial, ${cfg.freezeLayers} frozen layer(s)${cfg.freezeEmbeddings ? ' + embeddings' : ''}${headText(cfg)}`;
  if (cfg.strategy === 'adapter') return `adapter, dim ${cfg.adapterDim ?? '—'}`;
  if (cfg.strategy === 'prompt')
    return `prompt tuning, ${cfg.virtualTokens ?? '—'} virtual tokens (${cfg.promptInit ? `from “${cfg.promptInit}”` : 'random init'})`;
  return `${cfg.strategy}${headText(cfg)}`;
}

function headText(cfg: NonNullable<RunModel['start']>['config']): string {
  return cfg.head === 'classification' ? ` · classification head (${cfg.numLabels ?? '?'} labels)` : '';
}

function renderParams(): void {
  const p = model.params;
  if (!p) return;
  const body = paramsCard.body;
  body.textContent = '';
  const lines = el('div', 'param-lines');
  const chapter = el('p', 'mono', p.chapterLine);
  chapter.id = 'chapter-line';
  const peft = el('p', 'mono muted', p.line);
  peft.id = 'peft-line';
  lines.append(chapter, peft);
  body.append(lines);

  const layers = model.layerBreakdown();
  if (layers.length) {
    const legend = el('div', 'legend-row');
    for (const [cls, label] of [
      ['frozen', 'frozen'],
      ['trainable', 'trainable'],
      ['added', 'added (adapter)'],
    ] as const) {
      const item = el('span');
      item.append(el('span', `swatch seg ${cls}`), document.createTextNode(label));
      legend.append(item);
    }
    const bars = el('div', 'layers');
    bars.id = 'layers';
    const max = Math.max(1, ...layers.map((l) => l.frozen + l.trainable + l.added));
    for (const l of layers) {
      const total = l.frozen + l.trainable + l.added;
      const track = el('div', 'layer-track');
      // CSSOM widths (not style attributes): allowed by the CSP.
      track.style.width = `${(total / max) * 100}%`;
      track.title = `${l.name}: frozen ${withCommas(l.frozen)}, trainable ${withCommas(l.trainable)}, added ${withCommas(l.added)}`;
      for (const [cls, n] of [
        ['frozen', l.frozen],
        ['trainable', l.trainable],
        ['added', l.added],
      ] as const) {
        const seg = el('div', `seg ${cls}${n > 0 ? ' nonzero' : ''}`);
        seg.style.width = total > 0 ? `${(n / total) * 100}%` : '0';
        track.append(seg);
      }
      const trackCell = el('div');
      trackCell.append(track);
      const counts = el(
        'span',
        'muted num',
        l.added ? `${formatShortCount(l.trainable + l.added)} of ${formatShortCount(total)}` : `${formatShortCount(l.trainable)} of ${formatShortCount(total)}`,
      );
      bars.append(el('span', 'mono', l.name), trackCell, counts);
    }
    body.append(legend, bars);
  }

  const table = el('table');
  table.id = 'groups';
  const head = el('thead');
  const hr = el('tr');
  hr.append(el('th', undefined, 'Module'), el('th', 'num', 'Total'), el('th', 'num', 'Trainable'), el('th', 'num', '%'));
  head.append(hr);
  const tbody = el('tbody');
  for (const g of groupsByKind(p.groups ?? [])) {
    const tr = el('tr');
    tr.append(
      el('td', 'mono', g.name),
      el('td', 'num', withCommas(g.total)),
      el('td', 'num', withCommas(g.trainable)),
      el('td', 'num', g.total > 0 ? `${((100 * g.trainable) / g.total).toFixed(1)}%` : '—'),
    );
    tbody.append(tr);
  }
  const tr = el('tr', 'total');
  tr.append(
    el('td', undefined, 'Total'),
    el('td', 'num', withCommas(p.total)),
    el('td', 'num', withCommas(p.trainable)),
    el('td', 'num', `${(100 * p.ratio).toFixed(2)}%`),
  );
  tbody.append(tr);
  table.append(head, tbody);
  body.append(table);
}

function renderMemory(): void {
  const m = model.memory;
  if (!m) return;
  const body = memoryCard.body;
  body.textContent = '';
  const rows: [string, number][] = [
    ['Weights', m.weights],
    ['Gradients', m.gradients],
    ['Optimizer state', m.optimizer],
    ['Activations', m.activations],
  ];
  const table = el('table');
  table.id = 'memory-table';
  const tbody = el('tbody');
  for (const [label, bytes] of rows) {
    const tr = el('tr');
    tr.append(
      el('td', undefined, label),
      el('td', 'num', formatBytes(bytes)),
      el('td', 'num muted', m.total > 0 ? `${((100 * bytes) / m.total).toFixed(0)}%` : ''),
    );
    tbody.append(tr);
  }
  const total = el('tr', 'total');
  total.append(el('td', undefined, 'Total'), el('td', 'num', formatBytes(m.total)), el('td'));
  tbody.append(total);
  table.append(tbody);
  body.append(table, el('p', 'muted', 'An estimate for the configured batch size and sequence length.'));
}

function renderConfig(): void {
  const start = model.start;
  if (!start) return;
  const body = configCard.body;
  body.textContent = '';
  const d = start.dataset;
  const data: [string, string][] = d
    ? [
        ['Training records', withCommas(d.train)],
        ['Eval records', withCommas(d.eval)],
        ['Skipped records', withCommas(d.skipped)],
        ['Training tokens / epoch', withCommas(d.trainTokens)],
        ['Format', String(d.format)],
        ['Steps per epoch', withCommas(start.stepsPerEpoch)],
        ['Total steps', withCommas(start.totalSteps)],
      ]
    : [];
  if (start.resumedFrom !== undefined) data.push(['Resumed from step', withCommas(start.resumedFrom)]);
  const config = Object.entries(start.config ?? {}).map(([k, v]): [string, string] => [k, formatConfigValue(v)]);
  const table = keyValueTable(config);
  table.id = 'config-table';
  const grid = el('div', 'grid2');
  const left = el('div');
  left.append(el('h2', 'muted', 'run.json'), table);
  const right = el('div');
  const dataTable = keyValueTable(data);
  dataTable.id = 'dataset-table';
  right.append(el('h2', 'muted', 'Data'));
  if (d) {
    const summary = el('p', 'muted', dataSummaryLine(d));
    summary.id = 'data-summary';
    right.append(summary);
  }
  right.append(dataTable);
  grid.append(left, right);
  body.append(grid);
}

function renderLogs(): void {
  logCard.root.hidden = model.logs.length === 0;
  logList.textContent = '';
  for (const l of model.logs.slice(-50)) {
    const li = el('li', l.level, `${new Date(l.time).toLocaleTimeString()}  ${l.message}`);
    logList.append(li);
  }
}

function render(): void {
  debug.renders++;
  const t0 = performance.now();
  debug.renderStartAt = t0;
  const changes = model.takeChanges();
  if (changes.has('tasks')) lossChart.updateSpec(lossSpec());
  if (changes.has('series') || changes.has('tasks')) drawCharts();
  else if (changes.has('accuracy')) accuracy.render(model, state.xAxis);
  if (changes.has('header') || changes.has('series')) renderHeader();
  if (changes.has('cluster')) cluster.render(model.cluster);
  if (changes.has('params')) renderParams();
  if (changes.has('memory')) renderMemory();
  if (changes.has('config')) renderConfig();
  if (changes.has('logs')) renderLogs();
  debug.renderMs = performance.now() - t0;
}

const throttle = new RedrawThrottle(render, 100);

// ---------------------------------------------------------------------------------------------------
// Messages

/** A new backlog: drop the old run's model and everything drawn from it. */
function resetView(): void {
  model = new RunModel(state.smoothing);
  stopRequested = false;
  paramsCard.body.replaceChildren(el('div', 'empty', 'No parameter breakdown yet.'));
  memoryCard.body.replaceChildren(el('div', 'empty', 'No memory estimate yet.'));
  configCard.body.replaceChildren(el('div', 'empty', 'No configuration yet.'));
  renderLogs();
  rebuildCharts();
  accuracy.render(model, state.xAxis);
  renderHeader();
}

window.addEventListener('message', (event: MessageEvent<RunPanelHostMessage>) => {
  const msg = event.data;
  if (!msg || typeof msg !== 'object') return;
  if (msg.type === 'events' && Array.isArray(msg.events)) {
    const t0 = performance.now();
    debug.receivedAt = t0;
    if (msg.reset) resetView();
    model.apply(msg.events);
    debug.applyMs = performance.now() - t0;
    throttle.request();
  } else if (msg.type === 'backlog' && typeof msg.jsonl === 'string') {
    const t0 = performance.now();
    debug.receivedAt = t0;
    resetView();
    model.applyJsonl(msg.jsonl);
    debug.applyMs = performance.now() - t0;
    throttle.request();
  } else if (msg.type === 'tryItResult' || msg.type === 'tryItError') {
    tryIt.onHostMessage(msg);
  } else if (msg.type === 'status' && RUN_STATUSES.includes(msg.status)) {
    model.setHostStatus(msg.status, typeof msg.message === 'string' ? msg.message : undefined);
    throttle.request();
  }
});

renderHeader();
post({ type: 'ready' });
