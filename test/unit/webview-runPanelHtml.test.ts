import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { panelContentSecurityPolicy, runPanelHtml } from '../../extension/training/runPanelHtml';
import { isCompareWebviewMessage, isRunPanelWebviewMessage } from '../../protocol/panel';

const cspSource = 'https://file+.vscode-resource.vscode-cdn.net';

test('the panel CSP allows only the nonce script, nonce or webview styles, and webview or data: images', () => {
  assert.equal(
    panelContentSecurityPolicy(cspSource, 'N0NCE'),
    `default-src 'none'; script-src 'nonce-N0NCE'; style-src ${cspSource} 'nonce-N0NCE'; font-src ${cspSource}; img-src ${cspSource} data:`,
  );
});

test('the shell has one script with the nonce, loads nothing else remote, and escapes the title', () => {
  const html = runPanelHtml({ cspSource, nonce: 'abc', scriptUri: `${cspSource}/dist/webview/run.js`, title: 'Run </title><script>alert(1)</script>' });
  assert.equal((html.match(/<script\b/g) ?? []).length, 1);
  assert.match(html, /<script nonce="abc" src="https:\/\/file\+\.vscode-resource\.vscode-cdn\.net\/dist\/webview\/run\.js"><\/script>/);
  assert.match(html, /<style nonce="abc">/);
  assert.ok(!/style="/.test(html), 'no inline style attributes');
  assert.deepEqual(html.match(/\b(?:src|href)="[^"]*"/g), [`src="${cspSource}/dist/webview/run.js"`]);
  const withStyle = runPanelHtml({ cspSource, nonce: 'abc', scriptUri: 'x', styleUri: `${cspSource}/a.css`, title: 't' });
  assert.match(withStyle, /<link rel="stylesheet" href="https:\/\/file\+\.vscode-resource\.vscode-cdn\.net\/a\.css">/);
});

test('messages from the webviews are checked before the host acts on them', () => {
  for (const type of ['ready', 'stop', 'openOutput', 'openLog']) assert.ok(isRunPanelWebviewMessage({ type }));
  for (const bad of [null, 'stop', {}, { type: 'kill' }, { type: 1 }]) assert.equal(isRunPanelWebviewMessage(bad), false);
  assert.ok(isCompareWebviewMessage({ type: 'ready' }));
  assert.equal(isCompareWebviewMessage({ type: 'stop' }), false);
});

// The panels may use protocol/'s guards and parsers at run time: protocol/ is Node-free (its tsconfig has no
// Node types, test/unit/typecheck-boundaries.test.ts); nothing Node-side (trainer/, node:) may reach a webview.
test('the panel scripts write run data with textContent only and import nothing Node-side', () => {
  const root = path.resolve(__dirname, '..', '..');
  const files = ['webview/run/main.ts', 'webview/compare/main.ts', ...fs.readdirSync(path.join(root, 'webview/common')).map((f) => `webview/common/${f}`)];
  for (const file of files) {
    const source = fs.readFileSync(path.join(root, file), 'utf8');
    assert.ok(!/\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write/.test(source), `${file} parses no HTML`);
    assert.ok(!/import\s+(?!type)[^;]*(\/trainer\/|['"]node:)/.test(source), `${file} imports nothing from trainer/ or node: at run time`);
  }
});
