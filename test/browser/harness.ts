// The browser tests' harness: bundles the webviews (run, compare and the dataset preview; the same esbuild
// settings as scripts/build.mjs; FT_WEBVIEW_DIST=1 serves the built dist/webview/ files instead) and the
// stream fixtures, serves them from 127.0.0.1 in their production HTML shells (same CSP, nonce and all)
// with a stub of VS Code's webview API and a dark theme, and drives Debian's chromium through
// playwright-core. Every page fails its test on a CSP violation, a console error, an uncaught exception
// or a dialog (an alert() would mean injected script ran).
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { previewHtml } from '../../extension/dataset/previewHtml';
import { runPanelHtml } from '../../extension/training/runPanelHtml';
import { DARK_MODERN } from './fixtures/darkTheme';

export const ROOT = path.resolve(__dirname, '..', '..');
export const RESULTS = path.join(ROOT, 'test-results', 'browser');

export type View = 'run' | 'compare' | 'preview';

/** FT_WEBVIEW_DIST=1: test the shipped dist/webview/run.js and compare.js (run `npm run build` first). */
const USE_DIST = process.env.FT_WEBVIEW_DIST === '1';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function chromiumPath(): string {
  for (const candidate of [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser']) {
    if (candidate && fs.existsSync(candidate)) return candidate;
  }
  throw new Error("Debian's chromium is not installed; the browser tests drive it.\n  Install it with:  apt-get update && apt-get install -y chromium");
}

/** Bundles webview/run, webview/compare and the fixtures into a temporary folder; returns it. */
export async function bundle(): Promise<string> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-webview-'));
  await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: {
      run: 'webview/run/main.ts',
      compare: 'webview/compare/main.ts',
      preview: 'webview/preview/main.ts',
      fixtures: 'test/browser/fixtures/page.ts',
    },
    outdir: out,
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'chrome120',
    loader: { '.css': 'text' },
    logLevel: 'warning',
  });
  return out;
}

export interface Harness {
  origin: string;
  browser: Browser;
  /** Opens a view in a fresh page; `state` is what getState() returns. */
  open(view: View, options?: { state?: unknown }): Promise<PanelPage>;
  close(): Promise<void>;
}

export interface PanelPage {
  page: Page;
  /** Problems seen so far: CSP violations, console errors, page errors, dialogs. */
  problems: string[];
  /** Messages the webview posted to the "host". */
  posted(): Promise<unknown[]>;
  /** Posts a host message into the page. */
  send(message: unknown): Promise<void>;
  close(): Promise<void>;
}

function stubScript(nonce: string, state: unknown): string {
  // JSON inside a <script>: escape '<' so no data can close the element.
  const json = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c');
  return `<script nonce="${nonce}">
  window.__posted = [];
  window.__violations = [];
  window.__state = ${json(state ?? null)};
  document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
  let acquired = false;
  window.acquireVsCodeApi = () => {
    if (acquired) throw new Error('acquireVsCodeApi called twice');
    acquired = true;
    return {
      postMessage: (m) => window.__posted.push(JSON.parse(JSON.stringify(m))),
      getState: () => window.__state,
      setState: (s) => { window.__state = s; return s; },
    };
  };
  const theme = ${json(DARK_MODERN)};
  for (const [k, v] of Object.entries(theme)) document.documentElement.style.setProperty(k, v);
  document.body.classList.add('vscode-dark');
  document.body.dataset.vscodeThemeKind = 'vscode-dark';
</script>`;
}

export async function startHarness(): Promise<Harness> {
  if (USE_DIST) {
    for (const f of ['run.js', 'compare.js', 'preview.js']) {
      if (!fs.existsSync(path.join(ROOT, 'dist', 'webview', f))) throw new Error(`FT_WEBVIEW_DIST=1 but dist/webview/${f} is missing: run npm run build first`);
    }
  }
  const bundleDir = await bundle();
  const pageStates = new Map<string, unknown>();
  let counter = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const send = (status: number, type: string, body: string | Buffer) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const page = /^\/(run|compare|preview)\.html$/.exec(url.pathname);
    if (page) {
      const nonce = `n${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
      const origin = `http://${req.headers.host}`;
      // Each view in its production shell: the dataset preview has its own.
      const shell = { cspSource: origin, nonce, scriptUri: `${origin}/${page[1]}.js` };
      let html =
        page[1] === 'preview'
          ? previewHtml({ ...shell, title: 'Preview' })
          : runPanelHtml({ ...shell, title: page[1] === 'run' ? 'Training run' : 'Compare runs' });
      const id = url.searchParams.get('id') ?? '';
      const extra = stubScript(nonce, pageStates.get(id)) + `\n<script nonce="${nonce}" src="${origin}/fixtures.js"></script>\n`;
      html = html.replace(/<script nonce="[^"]*" src=/, (m) => extra + m);
      return send(200, 'text/html; charset=utf-8', html);
    }
    const file = /^\/(run|compare|preview|fixtures)\.js$/.exec(url.pathname);
    if (file) {
      const dir = USE_DIST && file[1] !== 'fixtures' ? path.join(ROOT, 'dist', 'webview') : bundleDir;
      return send(200, 'text/javascript; charset=utf-8', fs.readFileSync(path.join(dir, `${file[1]}.js`)));
    }
    if (url.pathname === '/favicon.ico') return send(204, 'image/x-icon', '');
    send(404, 'text/plain', 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const browser = await chromium.launch({ executablePath: chromiumPath(), args: CHROMIUM_ARGS });

  return {
    origin,
    browser,
    async open(view, options = {}) {
      const id = String(++counter);
      pageStates.set(id, options.state);
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'dark' });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('dialog', (d) => {
        problems.push(`dialog: ${d.type()} ${d.message()}`);
        void d.dismiss();
      });
      page.on('request', (r) => {
        if (!r.url().startsWith(origin)) problems.push(`request outside the page origin: ${r.url()}`);
      });
      await page.goto(`${origin}/${view}.html?id=${id}`);
      await page.waitForFunction(() => (window as unknown as { __posted: { type: string }[] }).__posted.some((m) => m.type === 'ready'));
      return {
        page,
        problems,
        async posted() {
          const violations = await page.evaluate(() => (window as unknown as { __violations: string[] }).__violations);
          for (const v of violations) if (!problems.includes(`csp: ${v}`)) problems.push(`csp: ${v}`);
          return page.evaluate(() => (window as unknown as { __posted: unknown[] }).__posted);
        },
        async send(message) {
          await page.evaluate((m) => window.postMessage(m, '*'), message);
        },
        async close() {
          const violations = await page.evaluate(() => (window as unknown as { __violations: string[] }).__violations).catch(() => []);
          for (const v of violations) problems.push(`csp: ${v}`);
          await context.close();
        },
      };
    },
    async close() {
      await browser.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(bundleDir, { recursive: true, force: true });
    },
  };
}

/** Counts the non-transparent pixels of the first canvas under `selector`. */
export async function paintedPixels(page: Page, selector: string): Promise<number> {
  return page.evaluate((sel) => {
    const canvas = document.querySelector(`${sel} canvas`) as HTMLCanvasElement | null;
    if (!canvas) return -1;
    const ctx = canvas.getContext('2d')!;
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
    return n;
  }, selector);
}

export function screenshotPath(name: string): string {
  fs.mkdirSync(RESULTS, { recursive: true });
  return path.join(RESULTS, name);
}
