// Hover on a record line: the prompt and target exactly as the trainer will build them, token counts
// and the loss mask; for a dataset model other than a GPT-2 preset, the record as that model sees it
// (its chat template's rendering, the trained text marked, its token counts). Rendering is in
// hoverMarkdown.ts; this file only wires it to VS Code.
import * as vscode from 'vscode';
import type { DatasetFormat, RecordPreview, ValidationOptions } from '../../language/types';
import type { DiagnosticsController } from './diagnosticsController';
import { type DatasetModels, type ModelState, modelSupport } from './datasetModels';
import { hoverMarkdown, MODEL_CHECK_MAX_CHARS, modelHoverMarkdown, PREVIEW_MAX_LINE_CHARS, tooLongHoverMarkdown } from './hoverMarkdown';
import { language } from '../languageLoader';
import type { DatasetSettings } from '../settings';

/** Dataset text is in the Markdown: no command links, no HTML. */
function untrustedHover(value: string, range: vscode.Range): vscode.Hover {
  const markdown = new vscode.MarkdownString(value, false);
  markdown.isTrusted = false;
  markdown.supportHtml = false;
  return new vscode.Hover(markdown, range);
}

export class DatasetHoverProvider implements vscode.HoverProvider {
  constructor(
    private readonly settings: DatasetSettings,
    private readonly diagnostics: DiagnosticsController,
    private readonly log: vscode.LogOutputChannel,
    private readonly models?: DatasetModels,
  ) {}

  provideHover(document: vscode.TextDocument, position: vscode.Position): vscode.ProviderResult<vscode.Hover> {
    // Synchronous once the file's model is loaded; the first hover may wait for it.
    const state = this.models?.peek(document.uri);
    if (this.models && state === undefined) return this.models.get(document.uri).then((s) => this.hover(document, position, s));
    return this.hover(document, position, state);
  }

  private hover(document: vscode.TextDocument, position: vscode.Position, state: ModelState | undefined): vscode.Hover | undefined {
    const line = document.lineAt(position.line);
    if (line.isEmptyOrWhitespace) return undefined;
    if (line.text.length > PREVIEW_MAX_LINE_CHARS) return untrustedHover(tooLongHoverMarkdown(line.text.length), line.range);
    if (state?.kind === 'ready' && !state.model.plainGpt2) {
      if (line.text.length > MODEL_CHECK_MAX_CHARS) return untrustedHover(tooLongHoverMarkdown(line.text.length, MODEL_CHECK_MAX_CHARS), line.range);
      const found = this.diagnostics.recordAt(document, position.line);
      if (found) {
        try {
          const view = modelSupport().modelRecordView(found.record, found.format, state.model, state.maxLength);
          return untrustedHover(modelHoverMarkdown(view, state.model.label, state.model.origin), line.range);
        } catch (err) {
          this.log.error(`preview failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        }
      }
    }
    const options = this.settings.validationOptions();
    const fileFormat = this.diagnostics.formatOf(document);
    // The file's format (or the forced one) first; a record of another format still gets a preview of
    // what it would be as its own best-matching format (format undefined).
    const forced = options.format && options.format !== 'auto' ? options.format : undefined;
    const formats = [...new Set([forced ?? fileFormat, undefined])] as (DatasetFormat | undefined)[];
    let preview: RecordPreview | undefined;
    for (const format of formats) {
      preview = this.preview(line.text, { ...options, format });
      if (preview) break;
    }
    if (!preview) return undefined; // the line's diagnostics say what is wrong with it
    return untrustedHover(hoverMarkdown(preview, fileFormat), line.range);
  }

  private preview(text: string, options: ValidationOptions & { format?: DatasetFormat }): RecordPreview | undefined {
    try {
      const result = language().previewRecord(text, options);
      return 'error' in result ? undefined : result;
    } catch (err) {
      this.log.error(`preview failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      return undefined;
    }
  }
}
