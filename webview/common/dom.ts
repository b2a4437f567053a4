// Small DOM helpers for the panels. Text from run data goes in through textContent only (never
// innerHTML), so a dataset path, config value, task name or error message cannot create elements.

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The nonce the page's <script> carries; styles injected with it pass the CSP. */
export function pageNonce(): string {
  const current = document.currentScript as HTMLScriptElement | null;
  if (current?.nonce) return current.nonce;
  return document.querySelector<HTMLScriptElement>('script[nonce]')?.nonce ?? '';
}

export function injectStyle(css: string, nonce: string): void {
  const style = document.createElement('style');
  style.nonce = nonce;
  style.textContent = css;
  document.head.append(style);
}

/** A two-column table of label/value rows. */
export function keyValueTable(rows: [string, string][], className = 'kv-table'): HTMLTableElement {
  const table = el('table', className);
  const body = el('tbody');
  for (const [k, v] of rows) {
    const tr = el('tr');
    tr.append(el('th', undefined, k), el('td', undefined, v));
    body.append(tr);
  }
  table.append(body);
  return table;
}

export function section(title: string, className = 'card'): { root: HTMLElement; body: HTMLElement } {
  const root = el('section', className);
  root.append(el('h2', undefined, title));
  const body = el('div', 'card-body');
  root.append(body);
  return { root, body };
}
