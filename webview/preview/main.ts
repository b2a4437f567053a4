// Dataset preview webview: draws the page the extension sends. Every piece of dataset text goes into
// the DOM through textContent (never parsed as HTML), so a record cannot inject markup or script.
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import type { DatasetStatistics } from '../../language/types';
import { DEFAULT_PREVIEW_QUERY, normalizeQuery, type HostToWebview, type PreviewQuery, type PreviewRow, type WebviewToHost } from '../../protocol/preview';

interface State extends PreviewQuery {
  uri?: string;
}

const vscode = acquireVsCodeApi<State>();
let state: State = { ...DEFAULT_PREVIEW_QUERY, ...normalizeQuery(vscode.getState() ?? undefined), uri: vscode.getState()?.uri };
let total = 0;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const search = $<HTMLElement & { value: string }>('search');
const prev = $<HTMLElement & { disabled: boolean }>('prev');
const next = $<HTMLElement & { disabled: boolean }>('next');
const chooseModel = $<HTMLElement>('choose-model');

function post(message: WebviewToHost): void {
  vscode.postMessage(message);
}

function requestPage(): void {
  vscode.setState(state);
  post({ type: 'query', offset: state.offset, limit: state.limit, query: state.query });
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function card(title: string, ...children: Node[]): HTMLElement {
  const c = el('div', undefined, 'card');
  c.append(el('h2', title), ...children);
  return c;
}

function keyValues(entries: [string, string | number][]): DocumentFragment {
  const frag = document.createDocumentFragment();
  for (const [k, v] of entries) {
    const row = el('div', undefined, 'kv');
    row.append(el('span', k), el('span', typeof v === 'number' ? v.toLocaleString() : v));
    frag.append(row);
  }
  return frag;
}

function counts(record: Record<string, number | undefined>, empty: string): Node {
  const entries = Object.entries(record).filter((e): e is [string, number] => typeof e[1] === 'number');
  if (!entries.length) return el('div', empty, 'muted');
  entries.sort((a, b) => b[1] - a[1]);
  return keyValues(entries.slice(0, 20));
}

function histogram(stats: DatasetStatistics): Node {
  const frag = document.createDocumentFragment();
  const max = Math.max(1, ...stats.lengthHistogram.map((b) => b.count));
  let lower = 0;
  for (const bucket of stats.lengthHistogram) {
    const row = el('div', undefined, 'hist-row');
    row.title = `${lower}–${bucket.upTo} tokens: ${bucket.count} records`;
    const bar = el('div', undefined, 'bar');
    // CSSOM property, not a style attribute: allowed by the page's CSP.
    bar.style.width = `${(bucket.count / max) * 100}%`;
    row.append(el('span', `≤ ${bucket.upTo}`, 'muted'), bar, el('span', bucket.count.toLocaleString()));
    frag.append(row);
    lower = bucket.upTo + 1;
  }
  if (!stats.lengthHistogram.length) frag.append(el('div', 'No records', 'muted'));
  return frag;
}

function renderStatistics(stats: DatasetStatistics, inGpt2: boolean): void {
  const section = $('stats');
  section.replaceChildren(
    card(
      'Records',
      keyValues([
        ['Records', stats.records],
        ['Duplicates', stats.duplicates],
        ['Over the length limit', stats.overLength],
        [inGpt2 ? 'GPT-2 tokens (min / mean / max)' : 'Tokens (min / mean / max)', `${stats.minTokens} / ${Math.round(stats.meanTokens)} / ${stats.maxTokens}`],
      ]),
    ),
    card('Formats', counts(stats.byFormat, 'None detected')),
    card('Tasks', counts(stats.byTask, 'No task field')),
    card('Labels', counts(stats.byLabel, 'No labels')),
    card('Token lengths', histogram(stats)),
  );
}

function recordCell(row: PreviewRow): HTMLTableCellElement {
  const td = el('td');
  if (row.rendered) {
    // The model's view: one text, the trained runs in <mark> (as text nodes, like everything else).
    const pre = el('pre', undefined, 'text rendered');
    for (const run of row.rendered) pre.append(run.trained ? el('mark', run.text, 'trained') : document.createTextNode(run.text));
    td.append(
      el(
        'div',
        row.template
          ? `As the model sees it (rendered by ${row.template}); the trained text is highlighted`
          : 'As the model sees it; the trained text is highlighted',
        'part',
      ),
      pre,
    );
    return td;
  }
  td.append(el('div', 'Prompt', 'part'), el('pre', row.prompt, 'text prompt'), el('div', 'Target', 'part'), el('pre', row.target, 'text target'));
  return td;
}

function renderRow(row: PreviewRow): HTMLTableRowElement {
  const tr = el('tr');
  tr.dataset.line = String(row.line + 1);
  tr.append(el('td', String(row.line + 1)));
  if (row.error !== undefined) {
    tr.append(el('td', 'invalid', 'error-text'));
    const td = el('td', row.error, 'error-text');
    td.colSpan = 2;
    tr.append(td);
    return tr;
  }
  const kind = el('td');
  kind.append(el('div', row.format ?? ''));
  if (row.task !== undefined) kind.append(el('div', `task: ${row.task}`, 'muted'));
  if (row.label !== undefined) kind.append(el('div', `label: ${row.label}`, 'muted'));
  const tokens = el('td');
  tokens.append(el('div', `${row.totalTokens} total`));
  if (!row.rendered) tokens.append(el('div', `${row.promptTokens} prompt · ${row.targetTokens} target`, 'muted'));
  tokens.append(el('div', `${row.lossTokens} ${row.rendered ? 'trained' : 'in loss'}`, 'muted'));
  if (row.truncated) tokens.append(el('div', 'text shortened', 'muted'));
  tr.append(kind, recordCell(row), tokens);
  return tr;
}

function renderPage(page: Extract<HostToWebview, { type: 'page' }>): void {
  total = page.total;
  state = { ...state, offset: page.offset, limit: page.limit, uri: page.uri };
  vscode.setState(state);
  $('title').textContent = page.file;
  const model = page.model;
  $('model').textContent = model ? `Model: ${model.label} (${model.origin})` : '';
  $('model').title = model?.error ?? '';
  $('model').className = model?.error ? 'error-text' : 'muted';
  document.title = `Preview ${page.file}`;
  const first = page.total === 0 ? 0 : page.offset + 1;
  const last = Math.min(page.total, page.offset + page.rows.length);
  $('range').textContent = `${first.toLocaleString()}–${last.toLocaleString()} of ${page.total.toLocaleString()}${page.query ? ' matching' : ''}`;
  prev.disabled = page.offset <= 0;
  next.disabled = page.offset + page.limit >= page.total;
  const message = $('message');
  message.className = 'muted';
  message.textContent = page.total === 0 ? (page.query ? 'No record matches the search.' : 'The file has no records.') : '';
  if (page.statistics) renderStatistics(page.statistics, page.model?.statisticsInGpt2 === true);
  else $('stats').replaceChildren(card('Statistics', el('div', 'Computing statistics…', 'muted')));
  $('rows').replaceChildren(...page.rows.map(renderRow));
}

window.addEventListener('message', (event: MessageEvent<HostToWebview>) => {
  const msg = event.data;
  if (msg?.type === 'page') renderPage(msg);
  else if (msg?.type === 'error') {
    const message = $('message');
    message.className = 'error-text';
    message.textContent = msg.message;
  }
});

let searchTimer: ReturnType<typeof setTimeout> | undefined;
search.value = state.query;
search.addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    state = { ...state, query: search.value, offset: 0 };
    requestPage();
  }, 250);
});
chooseModel.addEventListener('click', () => post({ type: 'chooseModel' }));
prev.addEventListener('click', () => {
  if (prev.disabled) return;
  state = { ...state, offset: Math.max(0, state.offset - state.limit) };
  requestPage();
});
next.addEventListener('click', () => {
  if (next.disabled || state.offset + state.limit >= total) return;
  state = { ...state, offset: state.offset + state.limit };
  requestPage();
});

post({ type: 'ready' });
requestPage();
