// "Resume Run" in the runs view: the command is contributed with its title, and its menu items show on
// exactly the tree items the view marks resumable (stopped or failed runs with a complete checkpoint).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fake from './extension-fakeVscode';
import { resolveTrainConfig } from '../../trainer/runConfig';
import { createRunFolder } from '../../trainer/runOwnership';
import { fixtureCheckpoint } from './runFolderFixture';

fake.installFakeVscode();
const view = require('../../extension/training/runsView') as typeof import('../../extension/training/runsView');

const root = path.join(__dirname, '../..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

/** VS Code's `viewItem =~ /re/` clause of a menu item's when, as a RegExp. */
function viewItemPattern(when: string): RegExp {
  const m = /viewItem =~ \/(.+?)\/(?:\s|$)/.exec(when);
  assert.ok(m, `a viewItem pattern in ${when}`);
  return new RegExp(m[1]);
}

test('Resume Run is contributed and its menu items match resumable stopped or failed runs only', () => {
  const command = pkg.contributes.commands.find((c: { command: string }) => c.command === 'finetune.resumeRun');
  assert.equal(`${command.category}: ${command.title}`, 'Fine-Tune: Resume Run');
  const items = (pkg.contributes.menus['view/item/context'] as { command: string; when: string; group: string }[]).filter(
    (m) => m.command === 'finetune.resumeRun',
  );
  assert.deepEqual(items.map((m) => m.group).sort(), ['1_run@2', 'inline@1']);
  for (const item of items) {
    assert.match(item.when, /view == finetune\.runs/);
    const re = viewItemPattern(item.when);
    assert.ok(re.test(view.runContextValue('stopped', true)));
    assert.ok(re.test(view.runContextValue('failed', true)));
    for (const status of ['stopped', 'failed', 'completed', 'early-stopped', 'running', 'waiting'] as const)
      assert.ok(!re.test(view.runContextValue(status, false)), status);
  }
  // The other menus still see `finetuneRun.<status>` first.
  assert.equal(view.runContextValue('running', false), 'finetuneRun.running');
  assert.match(view.runContextValue('stopped', true), /^finetuneRun\./);
});

function runFolder(runsDir: string, name: string, status: 'stopped' | 'completed', checkpoint: boolean): string {
  const dir = path.join(runsDir, name);
  // claimed as a run's folder, as the extension creates one (trainer/runOwnership.ts)
  createRunFolder(resolveTrainConfig({ data: '/d/a.jsonl', model: 'tiny', strategy: 'full', out: dir }));
  fs.writeFileSync(
    path.join(dir, 'events.jsonl'),
    [
      { type: 'step', time: 1, step: 1, loss: 2 },
      { type: 'done', time: 2, status, step: 1, elapsedSec: 1, outputFiles: [] },
    ]
      .map((e) => JSON.stringify(e))
      .join('\n') + '\n',
  );
  if (checkpoint) fixtureCheckpoint(dir, 1);
  return dir;
}

test('the runs tree marks stopped runs with a checkpoint resumable, and not finished ones or those without', () => {
  const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-runsview-'));
  runFolder(runsDir, 'c-stopped-ck', 'stopped', true);
  runFolder(runsDir, 'b-stopped-none', 'stopped', false);
  runFolder(runsDir, 'a-completed-ck', 'completed', true);
  const manager = { onDidChange: () => ({ dispose() {} }), isActive: () => false };
  const tree = new view.RunsTreeProvider(() => runsDir, manager as never);
  const items = tree.getChildren();
  assert.deepEqual(
    items.map((i) => [i.summary.id, i.contextValue]),
    [
      ['c-stopped-ck', 'finetuneRun.stopped.resumable'],
      ['b-stopped-none', 'finetuneRun.stopped'],
      ['a-completed-ck', 'finetuneRun.completed'],
    ],
  );
  tree.dispose();
});
