// "Preview Dataset": a webview with the statistics and a searchable, paged table of rendered records.
// The host does the work (language/previewDataset) and sends one page at a time; the webview only
// draws text. One panel per file; it follows unsaved edits of the file's open document.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { DatasetFormat } from '../../language/types';
import { DEFAULT_PREVIEW_QUERY, isWebviewToHost, normalizeQuery, type HostToWebview, type PreviewQuery } from '../../protocol/preview';
import { language } from '../languageLoader';
import { makeNonce } from '../webviewHtml';
import { previewHtml } from './previewHtml';
import { PreviewModel } from './previewModel';
import { computeStatisticsInWorker, StatisticsCancelled, statisticsWorkerPath, type StatisticsJob } from './statisticsWorker';
import type { DatasetSettings } from '../settings';
import { CHOOSE_MODEL_COMMAND, type DatasetModels, modelSupport, type ModelState } from './datasetModels';

export const PREVIEW_VIEW_TYPE = 'finetune.datasetPreview';
const REFRESH_DEBOUNCE_MS = 300;

/** What the webview stores with setState; the serializer reopens the panel from it after a reload. */
export interface PersistedPreviewState extends Partial<PreviewQuery> {
  uri?: string;
}

export class DatasetPreviewPanel implements vscode.Disposable {
  private static readonly open = new Map<string, DatasetPreviewPanel>();

  private model: PreviewModel | undefined;
  private statisticsJob: StatisticsJob | undefined;
  /** Bumped on every invalidation, so a read that raced with an edit is not cached. */
  private generation = 0;
  /** The dataset model the cached rows were rendered for. */
  private modelState: ModelState | undefined;
  private lastQuery: PreviewQuery = DEFAULT_PREVIEW_QUERY;
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  static show(extensionUri: vscode.Uri, uri: vscode.Uri, settings: DatasetSettings, log: vscode.LogOutputChannel, models?: DatasetModels): void {
    const existing = DatasetPreviewPanel.open.get(uri.toString());
    if (existing) {
      existing.panel.reveal();
      return;
    }
    const panel = vscode.window.createWebviewPanel(
      PREVIEW_VIEW_TYPE,
      `Preview ${path.posix.basename(uri.path)}`,
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: false },
      DatasetPreviewPanel.webviewOptions(extensionUri),
    );
    new DatasetPreviewPanel(panel, extensionUri, uri, settings, log, models);
  }

  /** Re-creates a panel VS Code restored after a reload. */
  static revive(
    panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    state: PersistedPreviewState | undefined,
    settings: DatasetSettings,
    log: vscode.LogOutputChannel,
    models?: DatasetModels,
  ): void {
    if (!state?.uri) {
      panel.dispose();
      return;
    }
    panel.webview.options = DatasetPreviewPanel.webviewOptions(extensionUri);
    new DatasetPreviewPanel(panel, extensionUri, vscode.Uri.parse(state.uri), settings, log, models);
  }

  private static webviewOptions(extensionUri: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return {
      enableScripts: true,
      enableFindWidget: true,
      localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview')],
    };
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private readonly uri: vscode.Uri,
    private readonly settings: DatasetSettings,
    private readonly log: vscode.LogOutputChannel,
    private readonly models?: DatasetModels,
  ) {
    DatasetPreviewPanel.open.set(uri.toString(), this);
    const webview = panel.webview;
    const nonce = makeNonce();
    webview.html = previewHtml({
      cspSource: webview.cspSource,
      nonce,
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview', 'preview.js')).toString(),
      title: `Preview ${path.posix.basename(uri.path)}`,
    });
    const watcher =
      uri.scheme === 'file'
        ? vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(path.dirname(uri.fsPath)), path.basename(uri.fsPath)))
        : undefined;
    if (watcher) {
      this.disposables.push(
        watcher,
        watcher.onDidChange(() => this.invalidate()),
        watcher.onDidDelete(() => this.invalidate()),
      );
    }
    this.disposables.push(
      webview.onDidReceiveMessage((m: unknown) => void this.receive(m)),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.document.uri.toString() === uri.toString()) this.invalidate();
      }),
      vscode.workspace.onDidCloseTextDocument((d) => {
        if (d.uri.toString() === uri.toString()) this.invalidate();
      }),
      settings.onDidChange(() => this.invalidate()),
      ...(models ? [models.onDidChange(() => this.invalidate())] : []),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  private async receive(message: unknown): Promise<void> {
    if (!isWebviewToHost(message)) return;
    if (message.type === 'ready') return;
    if (message.type === 'chooseModel') {
      await vscode.commands.executeCommand(CHOOSE_MODEL_COMMAND, this.uri);
      return;
    }
    this.lastQuery = normalizeQuery(message);
    await this.sendPage();
  }

  /** The dataset text or the settings changed: drop the cached model and resend the current page, debounced. */
  private invalidate(): void {
    this.model = undefined;
    this.statisticsJob?.cancel();
    this.statisticsJob = undefined;
    this.generation++;
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => void this.sendPage(), REFRESH_DEBOUNCE_MS);
  }

  private async readText(): Promise<string> {
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === this.uri.toString());
    if (open) return open.getText();
    const bytes = await vscode.workspace.fs.readFile(this.uri);
    return new TextDecoder('utf-8').decode(bytes);
  }

  private async sendPage(): Promise<void> {
    let message: HostToWebview;
    try {
      if (!this.model) {
        const generation = this.generation;
        const text = await this.readText();
        if (generation !== this.generation) return; // changed while reading: the scheduled refresh sends it
        const state = this.models ? await this.models.get(this.uri) : undefined;
        if (generation !== this.generation) return;
        this.modelState = state;
        const ready = state?.kind === 'ready' && !state.model.plainGpt2 ? state : undefined;
        const renderer = ready
          ? (record: unknown, format: DatasetFormat) => modelSupport().modelRecordView(record, format, ready.model, ready.maxLength)
          : undefined;
        this.model = new PreviewModel(text, this.settings.validationOptions(), language(), renderer);
        this.startStatistics(text, this.model, generation);
      }
      const q = this.lastQuery;
      const page = this.model.page(q);
      message = {
        type: 'page',
        file: path.posix.basename(this.uri.path),
        uri: this.uri.toString(),
        ...q,
        total: page.total,
        rows: page.rows,
        statistics: page.statistics ?? null,
      };
      const state = this.modelState;
      if (state?.kind === 'ready')
        message.model = { label: state.model.label, origin: state.model.origin, ...(state.model.plainGpt2 ? {} : { statisticsInGpt2: true }) };
      else if (state?.kind === 'error') message.model = { label: 'gpt2', origin: `${state.value} cannot be used`, error: state.message };
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      this.log.error(`Preview Dataset: ${this.uri.toString(true)}: ${reason}`);
      message = { type: 'error', message: `Cannot preview ${path.posix.basename(this.uri.path)}: ${reason}` };
    }
    await this.panel.webview.postMessage(message);
  }

  /** Statistics tokenize every record: off the extension host's thread, then the page is sent again with them. */
  private startStatistics(text: string, model: PreviewModel, generation: number): void {
    const options = this.settings.validationOptions();
    const worker = statisticsWorkerPath();
    if (!worker) {
      // A build without the worker bundle: compute here (blocks the host on large files).
      this.log.warn('statistics.worker.js is missing; computing dataset statistics on the extension host');
      model.statistics = language().computeStatistics(language().splitLines(text), options);
      return;
    }
    const started = performance.now();
    const job = computeStatisticsInWorker(text, options, worker);
    this.statisticsJob = job;
    job.result.then(
      (statistics) => {
        if (generation !== this.generation || this.model !== model) return;
        this.statisticsJob = undefined;
        model.statistics = statistics;
        this.log.debug(`statistics of ${this.uri.toString(true)} in ${(performance.now() - started).toFixed(0)} ms`);
        void this.sendPage();
      },
      (err) => {
        if (err instanceof StatisticsCancelled || generation !== this.generation) return;
        this.statisticsJob = undefined;
        const reason = err instanceof Error ? err.message : String(err);
        this.log.error(`Preview Dataset: statistics of ${this.uri.toString(true)} failed: ${reason}`);
        void this.panel.webview.postMessage({ type: 'error', message: `Cannot compute statistics: ${reason}` } satisfies HostToWebview);
      },
    );
  }

  dispose(): void {
    this.statisticsJob?.cancel();
    DatasetPreviewPanel.open.delete(this.uri.toString());
    clearTimeout(this.refreshTimer);
    for (const d of this.disposables) d.dispose();
    this.disposables.length = 0;
  }
}
