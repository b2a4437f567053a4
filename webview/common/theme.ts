// Colours from the VS Code theme. Canvases cannot use CSS variables, so the charts read their values
// when they are (re)built; a theme change rebuilds them (see watchTheme).

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
}

export interface ChartTheme {
  foreground: string;
  muted: string;
  grid: string;
  background: string;
  /** Distinct series colours: blue, orange, green, purple, red, yellow. */
  palette: string[];
}

export function chartTheme(): ChartTheme {
  const foreground = cssVar('--vscode-editor-foreground', cssVar('--vscode-foreground', '#cccccc'));
  return {
    foreground,
    muted: cssVar('--vscode-descriptionForeground', foreground),
    grid: cssVar('--vscode-editorWidget-border', cssVar('--vscode-panel-border', 'rgba(128,128,128,0.35)')),
    background: cssVar('--vscode-editor-background', '#1e1e1e'),
    palette: [
      cssVar('--vscode-charts-blue', '#3794ff'),
      cssVar('--vscode-charts-orange', '#d18616'),
      cssVar('--vscode-charts-green', '#89d185'),
      cssVar('--vscode-charts-purple', '#b180d7'),
      cssVar('--vscode-charts-red', '#f14c4c'),
      cssVar('--vscode-charts-yellow', '#cca700'),
    ],
  };
}

/** Calls `onChange` when VS Code switches theme (it rewrites the body class and the root's CSS variables). */
export function watchTheme(onChange: () => void): void {
  let timer: number | undefined;
  const fire = () => {
    clearTimeout(timer);
    timer = window.setTimeout(onChange, 50);
  };
  const observer = new MutationObserver(fire);
  observer.observe(document.body, { attributes: true, attributeFilter: ['class', 'data-vscode-theme-kind'] });
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
}
