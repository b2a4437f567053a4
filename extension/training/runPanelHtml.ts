// The HTML shell of the training panel and of the compare-runs view. The script (dist/webview/run.js or
// compare.js) builds the whole UI; it injects its own styles in <style> elements carrying this load's
// nonce, which it reads from its <script> element. Only that script runs, nothing remote loads, and
// every piece of run data reaches the DOM as text. No `vscode` import: the caller passes the webview's
// cspSource and the webview URIs.
import { contentSecurityPolicy, escapeAttribute } from '../webviewHtml';

export { makeNonce } from '../webviewHtml';

export function panelContentSecurityPolicy(cspSource: string, nonce: string): string {
  // uPlot draws on canvases; data: covers images a theme's CSS may inline.
  return contentSecurityPolicy(cspSource, nonce, { dataImages: true });
}

function escapeText(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export interface RunPanelHtmlOptions {
  cspSource: string;
  nonce: string;
  /** Webview URI of dist/webview/run.js (or compare.js for the compare view). */
  scriptUri: string;
  /** Webview URI of an extra stylesheet, if any. */
  styleUri?: string;
  title: string;
}

const BASE_STYLE = `body { margin: 0; padding: 0 16px 24px; color: var(--vscode-foreground); background: var(--vscode-editor-background);
  font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); }`;

export function runPanelHtml(o: RunPanelHtmlOptions): string {
  const nonce = escapeAttribute(o.nonce);
  const styleLink = o.styleUri ? `\n<link rel="stylesheet" href="${escapeAttribute(o.styleUri)}">` : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttribute(panelContentSecurityPolicy(o.cspSource, o.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeText(o.title)}</title>
<style nonce="${nonce}">${BASE_STYLE}</style>${styleLink}
</head>
<body>
<main id="app" aria-busy="true">Loading…</main>
<script nonce="${nonce}" src="${escapeAttribute(o.scriptUri)}"></script>
</body>
</html>`;
}

/** The compare view uses the same shell; its script is dist/webview/compare.js. */
export const compareRunsHtml = runPanelHtml;
