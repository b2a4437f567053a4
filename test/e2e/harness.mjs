// Driving the VS Code workbench (code-server in chromium) the way a user does: keyboard shortcuts,
// the command palette, menus and panels. Selectors are VS Code's own DOM classes; when VS Code
// changes them, this file is the one place to update.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const TIMEOUT = 20_000;
const SEL = {
  workbench: '.monaco-workbench',
  explorerRow: '.explorer-folders-view .monaco-list-row',
  quickInput: '.quick-input-widget',
  quickInputRow: '.quick-input-widget .quick-input-list .monaco-list-row',
  problemsPanel: '.markers-panel',
  problemRow: '.markers-panel .monaco-list-row',
  contextMenuItem: '.context-view .action-label',
  hover: '.monaco-hover:not(.hidden)',
  notification: '.notifications-toasts .notification-toast',
  activeEditor: '.editor-group-container.active .monaco-editor',
  actionWidgetRow: '.action-widget .monaco-list-row',
};

/** The workspace's run folders (the extension's default `.finetune/runs`) and the ids in it. */
export const runsDir = () => join(process.env.FINETUNE_E2E_WORKSPACE, '.finetune', 'runs');
export const runIds = () => (existsSync(runsDir()) ? readdirSync(runsDir()) : []);

/** Polls `predicate` every 200 ms until it returns something truthy, which it returns. */
export async function until(predicate, what, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}.`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Try It in a run panel's `frame` (Workbench.webviewFrame()): types `prompt`, generates greedily and
 * returns the text, failing with the panel's own error message when it shows one.
 */
export async function tryItGenerate(frame, prompt) {
  await frame.locator('#try-it').waitFor({ state: 'visible', timeout: 10_000 });
  await frame.locator('#try-prompt').fill(prompt);
  await frame.locator('#try-temperature').fill('0');
  await frame.locator('#try-generate').click();
  await frame.locator('#try-result:not([hidden]), #try-error:not([hidden])').first().waitFor({ timeout: 60_000 });
  assert.equal(
    await frame.locator('#try-error').isVisible(),
    false,
    await frame
      .locator('#try-error')
      .innerText()
      .catch(() => ''),
  );
  return frame.locator('#try-output').innerText();
}

const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export class Workbench {
  /** @param {import('playwright-core').Page} page */
  constructor(context, page, { resultsDir, workspace }) {
    this.context = context;
    this.page = page;
    this.resultsDir = resultsDir;
    this.workspace = workspace;
    this.shots = 0;
  }

  async ready() {
    await this.page.locator(SEL.workbench).waitFor({ timeout: 60_000 });
    await this.page.locator(SEL.explorerRow).first().waitFor({ timeout: 60_000 });
  }

  async screenshot(name) {
    mkdirSync(this.resultsDir, { recursive: true });
    const file = join(this.resultsDir, `${String(++this.shots).padStart(2, '0')}-${name.replace(/[^\w.-]+/g, '_')}.png`);
    await this.page.screenshot({ path: file }).catch(() => {});
    return file;
  }

  /** Saves a screenshot of one part of the workbench (e.g. '.part.editor': the editors without the side bar). */
  async screenshotOf(selector, name) {
    mkdirSync(this.resultsDir, { recursive: true });
    const file = join(this.resultsDir, `${String(++this.shots).padStart(2, '0')}-${name.replace(/[^\w.-]+/g, '_')}.png`);
    await this.page
      .locator(selector)
      .first()
      .screenshot({ path: file })
      .catch(() => {});
    return file;
  }

  async escape(times = 1) {
    for (let i = 0; i < times; i++) await this.page.keyboard.press('Escape');
  }

  /** Runs a command by its palette title, e.g. "Fine-Tune: Validate Dataset" (F1, type, pick the exact row). */
  async runCommand(title) {
    const row = await this.findCommand(title);
    if (!row) throw new Error(`The command palette has no command titled "${title}".`);
    await row.click();
    await this.page
      .locator(SEL.quickInput)
      .waitFor({ state: 'hidden', timeout: TIMEOUT })
      .catch(() => {});
  }

  /**
   * Opens the command palette on `title` and returns the matching row's locator (palette left open),
   * or null. Retries until `timeout`: right after start-up the extension host may not have
   * registered the extensions' commands yet, and an open palette does not refresh.
   */
  async findCommand(title, { timeout = TIMEOUT } = {}) {
    const input = this.page.locator(`${SEL.quickInput} input`);
    const row = this.page
      .locator(SEL.quickInputRow)
      .filter({ has: this.page.locator('.label-name', { hasText: new RegExp(`^${escapeRegExp(title)}$`) }) })
      .first();
    const deadline = Date.now() + timeout;
    for (;;) {
      await this.page.keyboard.press('F1');
      await input.waitFor({ timeout: TIMEOUT });
      await input.fill(`>${title}`);
      try {
        await row.waitFor({ timeout: 2000 });
        return row;
      } catch {
        await this.escape();
        if (Date.now() > deadline) return null;
        await this.page.waitForTimeout(500);
      }
    }
  }

  /** Opens a workspace file through Quick Open (Ctrl+P) and waits until its editor is active. */
  async openFile(name) {
    const input = this.page.locator(`${SEL.quickInput} input`);
    // Quick Open first lists recently opened files; wait until the best match is the file asked for.
    // A file created a moment ago may not be indexed yet: reopen Quick Open until it is.
    const row = this.page.locator(SEL.quickInputRow).first().filter({ hasText: name });
    const deadline = Date.now() + TIMEOUT;
    for (;;) {
      await this.page.keyboard.press('Control+P');
      await input.waitFor({ timeout: TIMEOUT });
      await input.fill(name);
      try {
        await row.waitFor({ timeout: 2000 });
        break;
      } catch (err) {
        await this.escape();
        if (Date.now() > deadline) throw err;
      }
    }
    await row.click();
    await this.page.locator(`.tabs-container .tab.active[aria-label*="${name}"]`).waitFor({ timeout: TIMEOUT });
    await this.page.locator(`${SEL.activeEditor} .view-lines`).waitFor({ timeout: TIMEOUT });
    await this.focusEditor();
  }

  async focusEditor() {
    await this.page
      .locator(`${SEL.activeEditor} .view-lines`)
      .click({ position: { x: 5, y: 5 } })
      .catch(() => {});
    await this.page.keyboard.press('Control+Home');
  }

  /** Closes every editor, discarding unsaved edits so that later tests see the files as they are on disk. */
  async closeAllEditors() {
    await this.escape(2);
    await this.runCommand('View: Close All Editors');
    const dontSave = this.page.locator('.monaco-dialog-box .monaco-button', { hasText: /Don't Save/ });
    const tabs = this.page.locator('.tabs-container .tab');
    const deadline = Date.now() + TIMEOUT;
    while ((await tabs.count()) > 0) {
      if (await dontSave.isVisible()) await dontSave.click();
      if (Date.now() > deadline) throw new Error('Editors did not close.');
      await this.page.waitForTimeout(100);
    }
  }

  /** Moves the cursor to a 1-based line and column with Go to Line (Ctrl+G). */
  async goToLine(line, column = 1) {
    await this.page.keyboard.press('Control+G');
    const input = this.page.locator(`${SEL.quickInput} input`);
    await input.waitFor({ timeout: TIMEOUT });
    await input.fill(`:${line}:${column}`);
    await this.page.keyboard.press('Enter');
    await this.page.locator(SEL.quickInput).waitFor({ state: 'hidden', timeout: TIMEOUT });
  }

  /** The active editor's rendered lines, top to bottom (the file must fit in the viewport). */
  async editorLines() {
    return this.page.locator(`${SEL.activeEditor} .view-lines .view-line`).evaluateAll((nodes) =>
      nodes
        .map((n) => ({ top: parseFloat(n.style.top) || 0, text: n.textContent.replace(/\u00a0/g, ' ') }))
        .sort((a, b) => a.top - b.top)
        .map((l) => l.text),
    );
  }

  /** Shows the Problems panel (Ctrl+Shift+M) and waits for it. */
  async openProblems() {
    const panel = this.page.locator(SEL.problemsPanel);
    if (!(await panel.isVisible())) await this.page.keyboard.press('Control+Shift+M');
    await panel.waitFor({ timeout: TIMEOUT });
  }

  /**
   * The Problems panel's rendered rows, top to bottom, as `{text, label}`: one row per file, then
   * one per problem, text like `'output' is empty finetune empty-field [Ln 7, Col 131]` and the
   * aria-label naming the severity ("Error", "Warning"). The list is virtual: only rows on screen
   * exist, so maximize the panel (toggleMaximizedPanel) when a file has many problems.
   */
  async problems() {
    await this.openProblems();
    const rows = this.page.locator(SEL.problemRow);
    return rows.evaluateAll((nodes) =>
      nodes
        .map((n) => ({ top: parseFloat(n.style.top) || 0, text: n.innerText.replace(/\s+/g, ' ').trim(), label: n.getAttribute('aria-label') ?? '' }))
        .sort((a, b) => a.top - b.top)
        .map(({ text, label }) => ({ text, label })),
    );
  }

  /** Polls problems() until `predicate(rows)` holds; returns the rows. */
  async waitForProblems(predicate, timeout = TIMEOUT) {
    const deadline = Date.now() + timeout;
    let rows = [];
    while (Date.now() < deadline) {
      rows = await this.problems();
      if (predicate(rows)) return rows;
      await this.page.waitForTimeout(250);
    }
    throw new Error(`Problems panel never matched; last rows:\n${rows.map((r) => `  ${r.text}`).join('\n')}`);
  }

  async toggleMaximizedPanel() {
    await this.runCommand('View: Toggle Maximized Panel');
  }

  /**
   * Right-clicks a file in the Explorer and picks `itemTitle` from its context menu. With `timeout`
   * the menu is reopened until the item shows up: right after code-server starts, the menu is built
   * before the extension's contributions are known.
   */
  async explorerContextMenu(fileName, itemTitle, { timeout } = {}) {
    const row = this.page
      .locator(SEL.explorerRow)
      .filter({ has: this.page.locator('.label-name', { hasText: new RegExp(`^${escapeRegExp(fileName)}$`) }) })
      .first();
    const item = this.page
      .locator(SEL.contextMenuItem)
      .filter({ hasText: new RegExp(`^${escapeRegExp(itemTitle)}$`) })
      .first();
    const deadline = Date.now() + (timeout ?? 0);
    for (;;) {
      await row.waitFor({ timeout: TIMEOUT });
      await row.click({ button: 'right' });
      try {
        await item.waitFor({ timeout: timeout === undefined ? TIMEOUT : 3000 });
        break;
      } catch (err) {
        await this.escape();
        if (Date.now() > deadline) throw err;
        await this.page.waitForTimeout(1000);
      }
    }
    await this.page.waitForTimeout(300); // the menu fades in; a screenshot earlier shows it half drawn
    await this.screenshot(`context-menu-${itemTitle}`);
    await item.click();
  }

  /**
   * Shows the editor hover at a 1-based line/column ("Show or Focus Hover", what Ctrl+K Ctrl+I
   * does; more dependable than a synthetic mouse move) and returns its text once it settles.
   */
  async hoverAt(line, column = 2, { timeout = TIMEOUT } = {}) {
    await this.goToLine(line, column);
    await this.runCommand('Show or Focus Hover');
    const hover = this.page.locator(SEL.hover).last();
    await hover.waitFor({ timeout });
    // Hovers render in two passes (loading..., then content); wait until the text settles.
    let previous = '';
    for (let i = 0; i < 20; i++) {
      const text = await hover.innerText();
      if (text && text === previous && !/^Loading/.test(text)) return text;
      previous = text;
      await this.page.waitForTimeout(150);
    }
    return previous;
  }

  /** Opens the quick-fix menu (Ctrl+.) at a 1-based line/column and returns its entries' titles. */
  async quickFixes(line, column = 2) {
    await this.goToLine(line, column);
    await this.page.keyboard.press('Control+.');
    const rows = this.page.locator(SEL.actionWidgetRow);
    await rows.first().waitFor({ timeout: TIMEOUT });
    return (await rows.allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim()).filter(Boolean);
  }

  /**
   * Applies the first quick fix at line/column whose title matches `title`. Chosen with the
   * keyboard: the menu's pointer blocker swallows clicks while it animates in.
   */
  async applyQuickFix(line, column, title) {
    const titles = await this.quickFixes(line, column);
    if (!titles.some((t) => t.match(title))) {
      await this.escape();
      throw new Error(`No quick fix matching ${title} at ${line}:${column}; offered: ${JSON.stringify(titles)}`);
    }
    await this.screenshot('quick-fix-menu');
    const focused = this.page.locator(`${SEL.actionWidgetRow}.focused`);
    for (let i = 0; i < titles.length + 2; i++) {
      if ((await focused.count()) && (await focused.first().innerText()).match(title)) {
        await this.page.keyboard.press('Enter');
        await this.page.locator(SEL.actionWidgetRow).first().waitFor({ state: 'hidden', timeout: TIMEOUT });
        return titles;
      }
      await this.page.keyboard.press('ArrowDown');
    }
    await this.escape();
    throw new Error(`Could not select the quick fix matching ${title}; offered: ${JSON.stringify(titles)}`);
  }

  /**
   * Answers a chain of quick picks and input boxes the way a user does, one Enter each: `valueFor(title)`
   * may return text to type first (undefined keeps the default or the highlighted item). Ends when no
   * quick input is open for `settleMs` after an answer; returns the titles answered, in order.
   */
  async answerQuickInputs(valueFor = () => undefined, { timeout = 60_000, settleMs = 2000 } = {}) {
    const widget = this.page.locator(SEL.quickInput);
    const titleOf = () =>
      widget
        .locator('.quick-input-title')
        .innerText({ timeout: 1000 })
        .catch(() => '');
    const input = widget.locator('input.input').first();
    const titles = [];
    let waitFor = timeout;
    let answeredAt = Date.now();
    for (;;) {
      try {
        await widget.waitFor({ state: 'visible', timeout: waitFor });
      } catch (err) {
        if (titles.length) return titles;
        throw err;
      }
      const title = (await titleOf()).trim();
      if (title === titles.at(-1)) {
        // The last Enter has not been taken yet, or the same question came back (a rejected value).
        await this.page.waitForTimeout(100);
        if (Date.now() > answeredAt + timeout) throw new Error(`The quick input "${title}" stayed open after Enter.`);
        continue;
      }
      await this.page.waitForTimeout(250); // items and value arrive just after the title
      const value = valueFor(title);
      if (value !== undefined) await input.fill(String(value));
      await this.page.keyboard.press('Enter');
      titles.push(title);
      answeredAt = Date.now();
      waitFor = settleMs;
    }
  }

  /** Waits for a notification toast whose text matches `pattern`; returns its text. */
  async waitForNotification(pattern, timeout = TIMEOUT) {
    const toast = this.page.locator(SEL.notification).filter({ hasText: pattern }).first();
    await toast.waitFor({ timeout });
    return (await toast.innerText()).replace(/\s+/g, ' ').trim();
  }

  async clearNotifications() {
    await this.runCommand('Notifications: Clear All Notifications').catch(() => {});
  }

  /** The content frame of the visible webview (a panel's HTML), usable like a page. */
  webviewFrame() {
    return this.page.frameLocator('iframe.webview.ready').last().frameLocator('#active-frame');
  }
}

let session = null;

/** The shared workbench: one chromium page on the code-server that run.mjs started. */
export async function workbench() {
  session ??= (async () => {
    const runDir = process.env.FINETUNE_E2E_RUN_DIR;
    const home = join(runDir, 'browser-home');
    mkdirSync(home, { recursive: true });
    const context = await chromium.launchPersistentContext(join(runDir, 'browser-profile'), {
      executablePath: process.env.FINETUNE_E2E_CHROMIUM,
      // FINETUNE_E2E_HEADED=1 shows the browser (it needs a display, e.g. DISPLAY=:0) to watch a run.
      headless: process.env.FINETUNE_E2E_HEADED !== '1',
      viewport: { width: 1600, height: 1000 },
      env: { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config') },
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    context.setDefaultTimeout(TIMEOUT);
    const page = context.pages()[0] ?? (await context.newPage());
    const wb = new Workbench(context, page, {
      resultsDir: process.env.FINETUNE_E2E_RESULTS,
      workspace: process.env.FINETUNE_E2E_WORKSPACE,
    });
    await page.goto(process.env.FINETUNE_E2E_URL);
    await wb.ready();
    return wb;
  })();
  return session;
}

export async function closeWorkbench() {
  if (!session) return;
  const wb = await session.catch(() => null);
  session = null;
  await wb?.context.close().catch(() => {});
}

/** A node:test test that gets the shared workbench and leaves a screenshot behind when it fails. */
export function e2eTest(name, fn, options = {}) {
  return test(name, { timeout: 90_000, ...options }, async (t) => {
    const wb = await workbench();
    await wb.escape(3); // whatever a failed test left open
    try {
      await fn(wb, t);
      await wb.screenshot(name);
    } catch (err) {
      const shot = await wb.screenshot(`FAILED-${name}`);
      err.message += `\n  screenshot: ${shot}`;
      throw err;
    }
  });
}
