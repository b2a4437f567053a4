// The dataset preview webview's HTML shell. Only the bundled script (with this load's nonce) runs; the
// page loads nothing remote, and all dataset text is added later by the script as text nodes.
// No `vscode` import: the caller passes the webview's cspSource and the script's webview URI; the nonce
// and the CSP are every webview's (../webviewHtml.ts).
import { contentSecurityPolicy, escapeAttribute } from '../webviewHtml';

const STYLES = `
  body { padding: 0 16px 24px; color: var(--vscode-foreground); font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); }
  header { display: flex; gap: 12px; align-items: center; flex-wrap: wrap; position: sticky; top: 0; padding: 8px 0; background: var(--vscode-editor-background); z-index: 1; }
  header h1 { font-size: 1.2em; margin: 0; font-weight: 600; }
  #search { min-width: 260px; flex: 1; max-width: 480px; }
  .pager { display: flex; gap: 6px; align-items: center; }
  .muted { color: var(--vscode-descriptionForeground); }
  .error-text { color: var(--vscode-errorForeground); }
  #stats { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 12px; margin: 8px 0 16px; }
  .card { border: 1px solid var(--vscode-panel-border, var(--vscode-widget-border, transparent)); border-radius: 4px; padding: 8px 10px; }
  .card h2 { font-size: 0.95em; margin: 0 0 6px; font-weight: 600; }
  .kv { display: flex; justify-content: space-between; gap: 8px; }
  .hist-row { display: grid; grid-template-columns: 64px 1fr 48px; gap: 6px; align-items: center; font-size: 0.9em; }
  .bar { height: 10px; background: var(--vscode-charts-blue, var(--vscode-progressBar-background)); min-width: 1px; }
  table { width: 100%; border-collapse: collapse; table-layout: fixed; }
  th, td { text-align: left; vertical-align: top; padding: 4px 6px; border-bottom: 1px solid var(--vscode-panel-border, var(--vscode-widget-border, transparent)); }
  th { font-weight: 600; background: var(--vscode-editor-background); }
  col.line { width: 48px; } col.kind { width: 110px; } col.tokens { width: 140px; }
  .part { font-size: 0.85em; color: var(--vscode-descriptionForeground); margin: 2px 0; }
  mark.trained { background: var(--vscode-editor-findMatchHighlightBackground, rgba(234, 92, 0, 0.33)); color: inherit; outline: 1px solid var(--vscode-charts-green, transparent); }
  pre.target { border-left: 3px solid var(--vscode-charts-green, var(--vscode-focusBorder)); padding-left: 6px; }
  pre.text { margin: 0; white-space: pre-wrap; word-break: break-word; max-height: 24em; overflow: auto; font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); }
  tr:hover td { background: var(--vscode-list-hoverBackground); }
`;

export interface PreviewHtmlOptions {
  cspSource: string;
  nonce: string;
  /** Webview URI of dist/webview/preview.js. */
  scriptUri: string;
  title: string;
}

export function previewHtml(o: PreviewHtmlOptions): string {
  const nonce = escapeAttribute(o.nonce);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttribute(contentSecurityPolicy(o.cspSource, o.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeAttribute(o.title)}</title>
<style nonce="${nonce}">${STYLES}</style>
</head>
<body>
<header>
  <h1 id="title"></h1>
  <vscode-textfield id="search" placeholder="Search records" aria-label="Search records"></vscode-textfield>
  <span id="model" class="muted"></span>
  <vscode-button id="choose-model" secondary>Change Model…</vscode-button>
  <div class="pager">
    <vscode-button id="prev" secondary>Previous</vscode-button>
    <span id="range" class="muted"></span>
    <vscode-button id="next" secondary>Next</vscode-button>
  </div>
</header>
<div id="message" class="muted">Loading…</div>
<section id="stats" aria-label="Statistics"></section>
<table id="records" aria-label="Records">
  <colgroup><col class="line"><col class="kind"><col class="record"><col class="tokens"></colgroup>
  <thead><tr><th>Line</th><th>Format / task</th><th>Record (the loss is taken on the target / the highlighted text)</th><th>Tokens</th></tr></thead>
  <tbody id="rows"></tbody>
</table>
<script nonce="${nonce}" src="${escapeAttribute(o.scriptUri)}"></script>
</body>
</html>`;
}
