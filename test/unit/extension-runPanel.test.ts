// The run panel host against the in-memory vscode stand-in with a recording webview: what it posts on
// `ready` (the backlog as text) and while the run's events.jsonl grows (event batches from there on).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fake from './extension-fakeVscode';
import type { RunPanelHostMessage } from '../../protocol/panel';

fake.installFakeVscode();
const { RunPanel, startAndDoneEvents } = require('../../extension/training/runPanel') as typeof import('../../extension/training/runPanel');
const { readCompleteLines } = require('../../trainer/runFolder') as typeof import('../../trainer/runFolder');

const line = (e: object) => JSON.stringify(e) + '\n';
const start = { type: 'start', time: 1000, config: { data: '/x/alpaca.jsonl', model: 'tiny', strategy: 'lora' }, totalSteps: 9 };
const step = (n: number) => ({
  type: 'step',
  time: 1000 + n,
  step: n,
  epoch: n / 3,
  loss: 3 - n / 10,
  lr: 1e-3,
  gradNorm: 1,
  tokens: 8,
  lossTokens: 6,
  tokensPerSec: 100,
  elapsedSec: n,
  etaSec: 9 - n,
});
const done = { type: 'done', time: 2000, status: 'completed', step: 9, elapsedSec: 9, outputFiles: ['config.json'], outputDir: '/x/output' };

interface FakePanel {
  posted: RunPanelHostMessage[];
  receive(message: unknown): void;
  dispose(): void;
}

/** A webview panel that records what the host posts and lets the test speak for the webview. */
function installRecordingWebview(): { panels: FakePanel[] } {
  const panels: FakePanel[] = [];
  (fake.window as unknown as { createWebviewPanel: unknown }).createWebviewPanel = (_type: string, title: string) => {
    const received = new fake.EventEmitter<unknown>();
    const disposed = new fake.EventEmitter<void>();
    const posted: RunPanelHostMessage[] = [];
    const panel = {
      title,
      posted,
      webview: {
        html: '',
        cspSource: 'vscode-webview://test',
        asWebviewUri: (uri: fake.Uri) => uri,
        postMessage: async (m: RunPanelHostMessage) => (posted.push(m), true),
        onDidReceiveMessage: received.event,
      },
      onDidDispose: disposed.event,
      reveal() {},
      receive: (m: unknown) => received.fire(m),
      dispose: () => disposed.fire(),
    };
    panels.push(panel);
    return panel;
  };
  return { panels };
}

function newRunDir(): string {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ft-panel-')), '2026-11-28T14-55-03-alpaca-lora');
  fs.mkdirSync(dir);
  return dir;
}

function deps(active: () => boolean) {
  const store = new Map<string, unknown>();
  const changed = new fake.EventEmitter<string>();
  return {
    context: {
      extensionUri: fake.Uri.file('/ext'),
      workspaceState: { get: <T>(k: string, d: T) => (store.get(k) as T) ?? d, update: async (k: string, v: unknown) => void store.set(k, v) },
    },
    manager: { isActive: () => active(), onDidChange: changed.event, stop: () => true, output: undefined },
    runsDirectory: () => '/nowhere',
  } as never;
}

const until = async (predicate: () => boolean, what: string) => {
  const deadline = Date.now() + 3000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

test('on ready the panel gets events.jsonl as one backlog text cut at its last newline, then only the events appended after it', async () => {
  const { panels } = installRecordingWebview();
  const dir = newRunDir();
  const file = path.join(dir, 'events.jsonl');
  const torn = line(step(3)).slice(0, 20);
  fs.writeFileSync(file, line(start) + line(step(1)) + line(step(2)) + torn);
  let active = true;
  const panel = RunPanel.show(
    dir,
    deps(() => active),
  );
  const [p] = panels;
  p.receive({ type: 'ready' });
  try {
    assert.deepEqual(p.posted[0], { type: 'backlog', jsonl: line(start) + line(step(1)) + line(step(2)) });
    assert.ok(!p.posted.some((m) => m.type === 'events'), 'no events array for the backlog');
    assert.deepEqual(p.posted[1], { type: 'status', status: 'running' });

    // The torn line completes and more arrive: they come as events, each exactly once.
    fs.appendFileSync(file, line(step(3)).slice(20) + line(step(4)));
    await until(() => p.posted.some((m) => m.type === 'events'), 'the live batch');
    fs.appendFileSync(file, line(done));
    active = false;
    await until(() => p.posted.filter((m) => m.type === 'events').length === 2, 'the second batch');
    const live = p.posted.filter((m) => m.type === 'events').flatMap((m) => (m.type === 'events' ? m.events : []));
    assert.deepEqual(live, [step(3), step(4), done]);
    assert.ok(p.posted.filter((m) => m.type === 'events').every((m) => m.type === 'events' && !m.reset));

    // A webview reloaded (ready again) gets the whole file as a fresh backlog.
    p.receive({ type: 'ready' });
    assert.deepEqual(p.posted.at(-1), { type: 'backlog', jsonl: line(start) + line(step(1)) + line(step(2)) + line(step(3)) + line(step(4)) + line(done) });
  } finally {
    panel.panel.dispose();
  }
});

test('a finished run sends its backlog once and does not keep polling; a missing events file is an empty backlog', async () => {
  const { panels } = installRecordingWebview();
  const dir = newRunDir();
  fs.writeFileSync(path.join(dir, 'events.jsonl'), line(start) + line(step(1)) + line(done));
  const panel = RunPanel.show(
    dir,
    deps(() => false),
  );
  panels[0].receive({ type: 'ready' });
  await new Promise((r) => setTimeout(r, 1200));
  assert.deepEqual(panels[0].posted, [{ type: 'backlog', jsonl: line(start) + line(step(1)) + line(done) }]);
  panel.panel.dispose();

  const empty = newRunDir();
  const second = RunPanel.show(
    empty,
    deps(() => true),
  );
  panels[1].receive({ type: 'ready' });
  assert.deepEqual(panels[1].posted[0], { type: 'backlog', jsonl: '' });
  second.panel.dispose();
});

test('complete lines are cut on the last newline byte, so a multi-byte character being written is never split', () => {
  const dir = newRunDir();
  const file = path.join(dir, 'events.jsonl');
  const full = Buffer.from(line({ type: 'log', message: 'héllo ✓' }) + line({ type: 'log', message: '日本' }));
  fs.writeFileSync(file, full.subarray(0, full.length - 4)); // ends inside 本
  const first = readCompleteLines(file, 0);
  assert.equal(first.text, line({ type: 'log', message: 'héllo ✓' }));
  assert.equal(first.end, Buffer.byteLength(first.text));
  fs.writeFileSync(file, full);
  const rest = readCompleteLines(file, first.end);
  assert.equal(rest.text, line({ type: 'log', message: '日本' }));
  assert.equal(rest.end, full.length);
  assert.deepEqual(readCompleteLines(file, rest.end), { text: '', end: full.length, truncated: false });
  fs.writeFileSync(file, 'x\n');
  assert.equal(readCompleteLines(file, rest.end).truncated, true, 'a replaced, shorter file is reported');
  assert.deepEqual(readCompleteLines(path.join(dir, 'missing.jsonl'), 0), { text: '', end: 0, truncated: false });
});

test("the host finds a backlog's start and done events without parsing its steps, and a resumed run's later start", () => {
  // A log whose message is "done" is looked at and dropped; quoted words inside a message are not even looked at.
  const logs = [
    { type: 'log', time: 1500, level: 'info', message: 'done' },
    { type: 'log', time: 1501, level: 'info', message: 'a "done" and {"type":"start"}' },
  ];
  const resumed = { ...start, time: 3000, resumedFrom: 9 };
  const text = line(start) + line(step(1)) + logs.map(line).join('') + line(done) + line(resumed) + line(step(10)) + '{"type":"done",torn';
  assert.deepEqual(startAndDoneEvents(text), [start, done, resumed]);
  assert.deepEqual(startAndDoneEvents(''), []);
});
