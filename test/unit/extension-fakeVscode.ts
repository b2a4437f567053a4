// A small in-memory stand-in for the `vscode` module: enough of the API for the extension's glue
// (diagnostics, hovers, code actions, commands, progress) to run under node's test runner with the real
// language library. `installFakeVscode()` makes `require('vscode')` return it. Documents are FakeDocument
// objects whose edits fire onDidChangeTextDocument exactly as VS Code reports them.
import Module from 'node:module';
import * as path from 'node:path';

type Listener<T> = (e: T) => unknown;

export class EventEmitter<T> {
  private listeners: Listener<T>[] = [];
  event = (listener: Listener<T>) => {
    this.listeners.push(listener);
    return { dispose: () => (this.listeners = this.listeners.filter((l) => l !== listener)) };
  };
  fire(e: T): void {
    for (const l of [...this.listeners]) l(e);
  }
  dispose(): void {
    this.listeners = [];
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}

export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(a: number | Position, b: number | Position, c?: number, d?: number) {
    if (typeof a === 'number') {
      this.start = new Position(a, b as number);
      this.end = new Position(c!, d!);
    } else {
      this.start = a;
      this.end = b as Position;
    }
  }
}

export const DiagnosticSeverity = { Error: 0, Warning: 1, Information: 2, Hint: 3 } as const;

export class Diagnostic {
  source?: string;
  code?: string | number | { value: string | number };
  constructor(
    public range: Range,
    public message: string,
    public severity: number = DiagnosticSeverity.Error,
  ) {}
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly path: string,
  ) {}
  static file(p: string): Uri {
    return new Uri('file', path.resolve(p));
  }
  static parse(s: string): Uri {
    const m = /^([a-z][\w+.-]*):(?:\/\/)?(.*)$/i.exec(s);
    return m ? new Uri(m[1], m[2]) : new Uri('file', s);
  }
  static joinPath(base: Uri, ...parts: string[]): Uri {
    return new Uri(base.scheme, path.posix.join(base.path, ...parts));
  }
  get fsPath(): string {
    return this.path;
  }
  toString(): string {
    return `${this.scheme}://${this.path}`;
  }
}

export class RelativePattern {
  constructor(
    readonly base: Uri,
    readonly pattern: string,
  ) {}
}

export class MarkdownString {
  isTrusted = false;
  supportHtml = false;
  constructor(
    public value = '',
    public supportThemeIcons = false,
  ) {}
  appendMarkdown(value: string): this {
    this.value += value;
    return this;
  }
  appendText(value: string): this {
    this.value += value.replace(/[\\`*_{}[\]()#+\-.!<>]/g, '\\$&');
    return this;
  }
}

export class Hover {
  constructor(
    public contents: MarkdownString,
    public range?: Range,
  ) {}
}

export class CodeActionKind {
  static readonly QuickFix = new CodeActionKind('quickfix');
  constructor(readonly value: string) {}
  contains(other: CodeActionKind): boolean {
    return other.value === this.value || other.value.startsWith(`${this.value}.`);
  }
}

export class WorkspaceEdit {
  readonly edits: { uri: Uri; range: Range; newText: string }[] = [];
  replace(uri: Uri, range: Range, newText: string): void {
    this.edits.push({ uri, range, newText });
  }
}

export class CodeAction {
  edit?: WorkspaceEdit;
  diagnostics?: Diagnostic[];
  isPreferred?: boolean;
  constructor(
    public title: string,
    public kind: CodeActionKind,
  ) {}
}

export class DiagnosticCollection {
  readonly entries = new Map<string, Diagnostic[]>();
  /** Fires with the URI string after each set(). */
  readonly onSet = new EventEmitter<string>();
  constructor(readonly name: string) {}
  set(uri: Uri, diagnostics: Diagnostic[]): void {
    this.entries.set(uri.toString(), diagnostics);
    this.onSet.fire(uri.toString());
  }
  /** The next diagnostics set for `uri` (call before whatever causes them). */
  next(uri: Uri, timeoutMs = 30000): Promise<Diagnostic[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        sub.dispose();
        reject(new Error(`no diagnostics for ${uri.toString()} within ${timeoutMs} ms`));
      }, timeoutMs);
      const sub = this.onSet.event((u) => {
        if (u !== uri.toString()) return;
        clearTimeout(timer);
        sub.dispose();
        resolve(this.entries.get(u)!);
      });
    });
  }
  get(uri: Uri): Diagnostic[] | undefined {
    return this.entries.get(uri.toString());
  }
  delete(uri: Uri): void {
    this.entries.delete(uri.toString());
  }
  clear(): void {
    this.entries.clear();
  }
  dispose(): void {}
}

interface ContentChange {
  range: Range;
  text: string;
}

export class FakeDocument {
  version = 1;
  private lines: string[];
  constructor(
    readonly uri: Uri,
    text: string,
    readonly languageId = 'jsonl',
  ) {
    this.lines = text.split(/\r?\n/);
  }
  get lineCount(): number {
    return this.lines.length;
  }
  getText(): string {
    return this.lines.join('\n');
  }
  lineAt(line: number) {
    const text = this.lines[line];
    if (text === undefined) throw new Error(`Illegal value for line ${line}`);
    return { text, range: new Range(line, 0, line, text.length), isEmptyOrWhitespace: text.trim() === '' };
  }
  /** Applies changes in order (each range in the text left by the previous ones) and reports them. */
  edit(changes: { line: number; character: number; endLine: number; endCharacter: number; text: string }[]): void {
    const reported: ContentChange[] = [];
    for (const c of changes) {
      const before = this.lines[c.line].slice(0, c.character);
      const after = this.lines[c.endLine].slice(c.endCharacter);
      this.lines.splice(c.line, c.endLine - c.line + 1, ...(before + c.text + after).split('\n'));
      reported.push({ range: new Range(c.line, c.character, c.endLine, c.endCharacter), text: c.text });
    }
    this.version++;
    state.changeDocument.fire({ document: this, contentChanges: reported });
  }
}

export const state = {
  openDocument: new EventEmitter<FakeDocument>(),
  closeDocument: new EventEmitter<FakeDocument>(),
  changeDocument: new EventEmitter<{ document: FakeDocument; contentChanges: ContentChange[] }>(),
  changeConfiguration: new EventEmitter<{ affectsConfiguration(section: string): boolean }>(),
  config: {} as Record<string, unknown>,
  documents: [] as FakeDocument[],
  collections: [] as DiagnosticCollection[],
  commands: new Map<string, (...args: unknown[]) => unknown>(),
  hoverProviders: [] as { provideHover(doc: unknown, pos: Position): unknown }[],
  codeActionProviders: [] as { provideCodeActions(doc: unknown, range: Range, ctx: unknown): unknown }[],
  messages: [] as { kind: 'info' | 'warning' | 'error'; text: string }[],
  progress: [] as { increment?: number; message?: string }[],
  cancelProgress: false,
  log: [] as string[],
  // Training (extension-flow / extension-run tests): quick picks and input boxes answer like a user
  // pressing Enter unless `answers` says otherwise; what they were asked is kept in `asked`.
  trusted: true,
  answers: [] as ((request: { kind: 'pick' | 'input'; title?: string; items?: unknown[]; value?: string }) => unknown)[],
  asked: [] as { kind: 'pick' | 'input'; title?: string; items?: unknown[]; value?: string; validation?: string }[],
  statusBarItems: [] as { text: string; visible: boolean; disposed: boolean }[],
};

const disposable = { dispose() {} };

export const workspace = {
  get isTrusted() {
    return state.trusted;
  },
  getWorkspaceFolder: () => undefined,
  get textDocuments() {
    return state.documents;
  },
  workspaceFolders: undefined,
  onDidOpenTextDocument: state.openDocument.event,
  onDidCloseTextDocument: state.closeDocument.event,
  onDidChangeTextDocument: state.changeDocument.event,
  onDidChangeConfiguration: state.changeConfiguration.event,
  onDidChangeWorkspaceFolders: () => disposable,
  getConfiguration: (section: string) => ({
    get: <T>(key: string, fallback: T) => (state.config[`${section}.${key}`] as T | undefined) ?? fallback,
  }),
  createFileSystemWatcher: () => ({ onDidChange: () => disposable, onDidCreate: () => disposable, onDidDelete: () => disposable, dispose() {} }),
  fs: { readFile: async () => new Uint8Array() },
};

export const languages = {
  createDiagnosticCollection(name: string) {
    const c = new DiagnosticCollection(name);
    state.collections.push(c);
    return c;
  },
  registerHoverProvider(_selector: unknown, provider: (typeof state.hoverProviders)[number]) {
    state.hoverProviders.push(provider);
    return disposable;
  },
  registerCodeActionsProvider(_selector: unknown, provider: (typeof state.codeActionProviders)[number]) {
    state.codeActionProviders.push(provider);
    return disposable;
  },
};

const logger = (level: string) => (msg: string) => state.log.push(`${level} ${msg}`);

export const window = {
  activeTextEditor: undefined,
  createOutputChannel: () => ({
    info: logger('info'),
    warn: logger('warn'),
    error: logger('error'),
    debug: logger('debug'),
    trace: logger('trace'),
    dispose() {},
    append: logger('append'),
    appendLine: logger('line'),
    show() {},
    clear() {},
  }),
  showInformationMessage: async (text: string) => (state.messages.push({ kind: 'info', text }), undefined),
  showWarningMessage: async (text: string) => (state.messages.push({ kind: 'warning', text }), undefined),
  showErrorMessage: async (text: string) => (state.messages.push({ kind: 'error', text }), undefined),
  /** With `state.cancelProgress` set, the user presses Cancel as soon as the task starts. */
  withProgress: async <R>(_options: unknown, task: (p: unknown, token: unknown) => Promise<R>) =>
    task(
      { report: (r: { increment?: number; message?: string }) => state.progress.push(r) },
      {
        onCancellationRequested: (listener: () => void) => {
          if (state.cancelProgress) queueMicrotask(listener);
          return disposable;
        },
      },
    ),
  registerWebviewPanelSerializer: () => disposable,
  createTreeView: () => ({ selection: [], dispose() {} }),
  createStatusBarItem: () => {
    const item = {
      text: '',
      visible: false,
      disposed: false,
      name: '',
      tooltip: '',
      command: undefined as unknown,
      show() {
        item.visible = true;
      },
      hide() {
        item.visible = false;
      },
      dispose() {
        item.disposed = true;
      },
    };
    state.statusBarItems.push(item);
    return item;
  },
  showQuickPick: async (items: unknown[], options?: { title?: string; canPickMany?: boolean }) => {
    const request = { kind: 'pick' as const, title: options?.title, items };
    state.asked.push(request);
    const answer = state.answers.shift();
    return answer ? answer(request) : options?.canPickMany ? items : items[0];
  },
  showInputBox: async (options?: { title?: string; value?: string; validateInput?: (v: string) => string | undefined }) => {
    const request = { kind: 'input' as const, title: options?.title, value: options?.value };
    const answer = state.answers.shift();
    const value = answer ? (answer(request) as string | undefined) : options?.value;
    state.asked.push({ ...request, validation: value !== undefined ? options?.validateInput?.(value) : undefined });
    return value;
  },
  showTextDocument: async () => undefined,
  showOpenDialog: async () => undefined,
  createWebviewPanel: () => {
    throw new Error('webviews are not faked');
  },
};

export const commands = {
  registerCommand(id: string, fn: (...args: unknown[]) => unknown) {
    state.commands.set(id, fn);
    return disposable;
  },
  executeCommand: async (id: string, ...args: unknown[]) => state.commands.get(id)?.(...args),
};

export const ProgressLocation = { Notification: 15, Window: 10 };
export const ViewColumn = { Beside: -2, Active: -1 };
export const StatusBarAlignment = { Left: 1, Right: 2 };
export const TreeItemCollapsibleState = { None: 0, Collapsed: 1, Expanded: 2 };
export const UIKind = { Desktop: 1, Web: 2 };
export const env = { remoteName: undefined as string | undefined, uiKind: 1 };

export class ThemeColor {
  constructor(readonly id: string) {}
}

export class ThemeIcon {
  constructor(
    readonly id: string,
    readonly color?: ThemeColor,
  ) {}
}

export class TreeItem {
  id?: string;
  description?: string;
  iconPath?: unknown;
  contextValue?: string;
  command?: unknown;
  tooltip?: unknown;
  resourceUri?: Uri;
  constructor(
    public label: string,
    public collapsibleState = 0,
  ) {}
}

/** Makes `require('vscode')` resolve to this module. */
export function installFakeVscode(): void {
  const m = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const original = m._resolveFilename;
  m._resolveFilename = function (request: string, ...rest: unknown[]) {
    if (request === 'vscode') return __filename;
    return original.call(this, request, ...rest);
  };
}

export function openDocument(doc: FakeDocument): FakeDocument {
  state.documents.push(doc);
  state.openDocument.fire(doc);
  return doc;
}

export function closeDocument(doc: FakeDocument): void {
  state.documents = state.documents.filter((d) => d !== doc);
  state.closeDocument.fire(doc);
}
