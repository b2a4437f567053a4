// What every webview's HTML shell shares (the dataset preview, the training panel, the compare view): a
// fresh nonce per load, the Content Security Policy that lets only the extension's own files and the
// nonce'd script and styles in, and attribute escaping. No `vscode` import.
import { randomBytes } from 'node:crypto';

export function makeNonce(): string {
  return randomBytes(18)
    .toString('base64')
    .replace(/[^A-Za-z0-9]/g, '');
}

/** The webviews' CSP: nothing but the extension's own files and nonce'd scripts and styles. */
export function contentSecurityPolicy(cspSource: string, nonce: string, opts: { dataImages?: boolean } = {}): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `font-src ${cspSource}`,
    `img-src ${cspSource}${opts.dataImages ? ' data:' : ''}`,
  ].join('; ');
}

export function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
