// Styles of the training panel and the compare view: VS Code theme variables only, so both follow the
// user's theme. Injected by the scripts with the page nonce (the CSP allows no other inline style).
export const PANEL_CSS = `
  :root { --ft-border: var(--vscode-panel-border, var(--vscode-widget-border, rgba(128,128,128,0.35))); }
  main { max-width: 1400px; }
  h1 { font-size: 1.25em; margin: 0; font-weight: 600; }
  h2 { font-size: 1em; margin: 0 0 8px; font-weight: 600; }
  .muted { color: var(--vscode-descriptionForeground); }
  .mono { font-family: var(--vscode-editor-font-family, monospace); font-size: var(--vscode-editor-font-size, 12px); }
  header.run-header { position: sticky; top: 0; z-index: 2; background: var(--vscode-editor-background); padding: 10px 0 8px; border-bottom: 1px solid var(--ft-border); margin-bottom: 12px; }
  .title-row { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; }
  .title-row h1 { flex: 1 1 auto; min-width: 12em; overflow-wrap: anywhere; }
  .actions { display: flex; gap: 6px; flex-wrap: wrap; }
  .status { display: inline-block; padding: 2px 8px; border-radius: 10px; font-size: 0.85em; font-weight: 600; text-transform: capitalize;
    color: var(--vscode-badge-foreground); background: var(--vscode-badge-background); }
  .status-running { color: var(--vscode-editor-background); background: var(--vscode-charts-blue, #3794ff); }
  .status-completed { color: var(--vscode-editor-background); background: var(--vscode-charts-green, #89d185); }
  .status-stopped, .status-early-stopped { color: var(--vscode-editor-background); background: var(--vscode-charts-yellow, #cca700); }
  .status-failed { color: #fff; background: var(--vscode-charts-red, #f14c4c); }
  .facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 4px 16px; margin: 10px 0 0; }
  .facts div { min-width: 0; }
  .facts dt { font-size: 0.8em; color: var(--vscode-descriptionForeground); margin: 0; }
  .facts dd { margin: 0; overflow-wrap: anywhere; font-variant-numeric: tabular-nums; }
  .facts .wide { grid-column: span 2; }
  .error-box { border: 1px solid var(--vscode-inputValidation-errorBorder, var(--vscode-charts-red, #f14c4c)); background: var(--vscode-inputValidation-errorBackground, transparent);
    color: var(--vscode-errorForeground, var(--vscode-foreground)); padding: 8px 10px; border-radius: 4px; margin: 0 0 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
  .error-box[hidden] { display: none; }
  .error-box pre { margin: 6px 0 0; max-height: 14em; overflow: auto; font-size: 0.85em; }
  .card { border: 1px solid var(--ft-border); border-radius: 4px; padding: 10px 12px; margin: 0 0 12px; min-width: 0; }
  .grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 0 12px; }
  .controls { display: flex; gap: 14px; align-items: center; flex-wrap: wrap; margin: 0 0 8px; }
  .controls label { display: inline-flex; gap: 6px; align-items: center; }
  .controls vscode-single-select { width: 110px; }
  .controls input[type=range] { width: 140px; accent-color: var(--vscode-button-background); }
  .chart { width: 100%; min-height: 60px; }
  .chart .u-legend { font-size: 0.85em; color: var(--vscode-foreground); }
  .chart .u-legend .u-marker { border-radius: 2px; }
  .empty { padding: 18px 0; text-align: center; color: var(--vscode-descriptionForeground); }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 3px 8px 3px 0; border-bottom: 1px solid var(--ft-border); vertical-align: top; overflow-wrap: anywhere; }
  th { font-weight: 600; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
  .kv-table th { width: 38%; font-weight: normal; color: var(--vscode-descriptionForeground); }
  .kv-table td { font-family: var(--vscode-editor-font-family, monospace); }
  tr.total td, tr.total th { font-weight: 600; }
  .param-lines p { margin: 2px 0; }
  .layers { display: grid; grid-template-columns: minmax(60px, max-content) 1fr minmax(90px, max-content); gap: 3px 8px; align-items: center; margin: 10px 0; font-size: 0.9em; }
  .layer-track { height: 12px; display: flex; min-width: 4px; }
  .seg { height: 100%; }
  .seg.nonzero { min-width: 2px; }
  .seg.frozen { background: var(--vscode-disabledForeground, rgba(128,128,128,0.55)); opacity: 0.6; }
  .seg.trainable { background: var(--vscode-charts-blue, #3794ff); }
  .seg.added { background: var(--vscode-charts-orange, #d18616); }
  .legend-row { display: flex; gap: 14px; font-size: 0.85em; flex-wrap: wrap; }
  .swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: middle; }
  .log-list { max-height: 12em; overflow: auto; margin: 0; padding: 0; list-style: none; font-size: 0.9em; }
  .log-list li { padding: 1px 0; overflow-wrap: anywhere; }
  .log-list li.warning { color: var(--vscode-editorWarning-foreground, var(--vscode-foreground)); }
  td.best { font-weight: 700; color: var(--vscode-charts-green, inherit); }
  .run-swatch { display: inline-block; width: 12px; height: 3px; margin-right: 6px; vertical-align: middle; }
`;
