import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { previewHtml } from '../../extension/dataset/previewHtml';
import { contentSecurityPolicy, makeNonce } from '../../extension/webviewHtml';

const cspSource = 'https://file+.vscode-resource.vscode-cdn.net';

test('the CSP allows only the nonce script and the webview resource origin', () => {
  assert.equal(
    contentSecurityPolicy(cspSource, 'N0NCE'),
    `default-src 'none'; script-src 'nonce-N0NCE'; style-src ${cspSource} 'nonce-N0NCE'; font-src ${cspSource}; img-src ${cspSource}`,
  );
});

test('nonces are fresh and attribute-safe', () => {
  const a = makeNonce();
  const b = makeNonce();
  assert.notEqual(a, b);
  assert.match(a, /^[A-Za-z0-9]{16,}$/);
});

test('the page has one script, carrying the nonce, and loads nothing remote', () => {
  const html = previewHtml({ cspSource, nonce: 'abc123', scriptUri: `${cspSource}/dist/webview/preview.js`, title: 'Preview a.jsonl' });
  const scripts = html.match(/<script\b[^>]*>/g) ?? [];
  assert.equal(scripts.length, 1);
  assert.match(scripts[0], /nonce="abc123"/);
  assert.match(html, /<style nonce="abc123">/);
  assert.match(html, /http-equiv="Content-Security-Policy"/);
  const urls = html.match(/\b(?:src|href)="([^"]*)"/g) ?? [];
  assert.deepEqual(urls, [`src="${cspSource}/dist/webview/preview.js"`]);
  assert.ok(!/style="/.test(html), 'no inline style attributes (the CSP would block them)');
});

test('a file name cannot break out of the title', () => {
  const html = previewHtml({ cspSource, nonce: 'n', scriptUri: 'x', title: 'Preview </title><script>alert(1)</script>.jsonl' });
  assert.equal((html.match(/<script\b/g) ?? []).length, 1);
});

test('the preview webview writes dataset text with textContent only', () => {
  const source = fs.readFileSync(path.join(__dirname, '../../webview/preview/main.ts'), 'utf8');
  assert.ok(!/innerHTML|outerHTML|insertAdjacentHTML|document\.write|setAttribute\(\s*['"]style/.test(source));
  assert.match(source, /textContent/);
});
