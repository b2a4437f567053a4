// What data preparation does to a real chat file, counted: the chat-eval fixture (Qwen3's tokenizer and
// template, a 96-token context; test/fixtures/chat-eval/make.sh) has seven conversations, three of
// them cut by the context: line 4 inside its answer, line 5 before its answer begins (no trained token
// left: the record is left out) and line 7 just after its <|im_end|> (only the untrained newline lost).
// reference/chat_ref.py check verified preview.json's labels against jinja2, so the expected numbers
// are read from it rather than from the code under test.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { IGNORED_LABEL, type PreviewEntry } from '../../cli/preview';
import { parseTrainerEvent, type StartEvent } from '../../protocol/trainer';
import { loadDataset, preparationSummary } from '../../trainer/data';
import { modelTokenizer } from '../../trainer/modelTokenizer';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'chat-eval');
const MODEL = path.join(FIXTURE, 'qwen3-chat');
const DATA = path.join(FIXTURE, 'chat.jsonl');
const PREVIEW: PreviewEntry[] = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'preview.json'), 'utf8')).records;
const CONTEXT = 96;

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-data-counts-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** Trained labels the shifted loss scores (the first token's has no logit before it). */
const scored = (r: PreviewEntry) => r.labels!.slice(1).filter((l) => l !== IGNORED_LABEL).length;
const inputTokens = PREVIEW.filter((r) => scored(r) > 0).reduce((a, r) => a + r.ids!.length - 1, 0);
const trainedTokens = PREVIEW.reduce((a, r) => a + scored(r), 0);

test('data prep of a chat file counts records left out for no trained token (with their lines), records cut and cut targets, and trained tokens', async () => {
  const { tokenizer } = await modelTokenizer(MODEL);
  const data = await loadDataset(DATA, { tokenizer, maxLength: CONTEXT, trainOnPrompt: false, skipInvalid: false });
  assert.deepEqual(preparationSummary(data, data.examples), {
    trainLossTokens: trainedTokens,
    noTrainedToken: 1,
    noTrainedTokenLines: [5],
    truncated: 3,
    // Lines 4 and 5 lose answer tokens; line 7 loses only the newline after <|im_end|>, which is not trained.
    targetTruncated: 2,
  });
  assert.equal(data.examples.length, PREVIEW.length - 1);
});

test('`finetune train` on a chat file reports the counts in its start event and names the left-out line in a warning', () => {
  const out = path.join(scratch, 'run');
  const main = path.join(__dirname, '../../cli/main.ts');
  const args = ['train', '--data', DATA, '--model', MODEL, '--strategy', 'lora', '--out', out, '--max-steps', '1', '--batch-size', '2'];
  const r = spawnSync(process.execPath, ['--import', 'tsx', main, ...args, '--eval-fraction', '0', '--backend', 'wasm'], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const events = r.stdout
    .trim()
    .split('\n')
    .map((l) => parseTrainerEvent(l)!);
  const start = events.find((e): e is StartEvent => e.type === 'start');
  assert.ok(start);
  assert.deepEqual(start.dataset, {
    train: 6,
    eval: 0,
    skipped: 0,
    trainTokens: inputTokens,
    evalTokens: 0,
    format: 'chat',
    trainLossTokens: trainedTokens,
    noTrainedToken: 1,
    noTrainedTokenLines: [5],
    truncated: 3,
    targetTruncated: 2,
  });
  const warnings = events.flatMap((e) => (e.type === 'log' && e.level === 'warning' ? [e.message] : []));
  assert.ok(warnings.includes(`1 record(s) have no trained token within ${CONTEXT} tokens and were left out (line 5)`), warnings.join('\n'));
  assert.ok(warnings.includes(`3 record(s) were truncated to ${CONTEXT} tokens (2 of them lose trained tokens)`), warnings.join('\n'));
});
