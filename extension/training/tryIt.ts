// "Try It" in the panel of a finished run: the user's text, formatted with the run's prompt template (the
// dataset format's formatter in language/, the one the trainer used), goes to `finetune generate` in a
// child process that loads the run's output; what it prints comes back to the panel. TensorFlow.js runs
// only in that child, never in the extension host. No vscode here, so the tests drive it with real
// processes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatRecord } from '../../language/promptFormat';
import { describeGenerateSpeed, type GenerateRequest, type GenerateResult, generateFlags, parseGenerateResult } from '../../protocol/generate';
import type { RunPanelHostMessage } from '../../protocol/panel';
import type { BackendChoice, DoneEvent, StartEvent, TrainerEvent } from '../../protocol/trainer';
import { readRunEvents } from '../../trainer/runFolder';
import { type CliProcessOptions, startCli } from './cliProcess';

export interface TryItRequest {
  prompt: string;
  maxNewTokens: number;
  temperature: number;
  /** Sampling cuts (absent: none): the k most likely tokens, then the nucleus of probability p. */
  topK?: number;
  topP?: number;
}

/** What generation loads: a complete model folder, or a base model with the run's adapter on top. */
export interface TryItTarget {
  model: string;
  adapter?: string;
  /** The dataset format the run was trained on (its prompt template). */
  format: string;
  /** The run's seed: the random `tiny` preset is rebuilt from it (`--model-seed`). */
  modelSeed: number;
  /** The run's backend choice. */
  backend?: string;
}

const FINISHED: readonly string[] = ['completed', 'stopped', 'early-stopped'];
const FORMATS: readonly string[] = ['alpaca', 'chat', 'completion', 'text', 'classification'];
const ADAPTER_FILES = ['adapter_config.json', 'adapter_model.safetensors'];

/** The last run segment's start and done (a resumed run appends a new start after an earlier done). */
function lastSegment(events: readonly TrainerEvent[]): { start?: StartEvent; done?: DoneEvent } {
  let start: StartEvent | undefined;
  let done: DoneEvent | undefined;
  for (const e of events) {
    if (e.type === 'start') {
      start = e;
      done = undefined;
    } else if (e.type === 'done') {
      done = e;
    }
  }
  return { start, done };
}

/**
 * Where the finished run's model is, or why Try It cannot use it. An output folder with PEFT's adapter
 * files is an adapter on the run's base model (`model` in run.json); otherwise it is a complete model.
 */
export function tryItTarget(events: readonly TrainerEvent[]): TryItTarget | { error: string } {
  const { start, done } = lastSegment(events);
  if (!start || !done) return { error: 'Try It needs a finished run; this one has not finished.' };
  if (!FINISHED.includes(done.status))
    return { error: `Try It needs a run that finished with an output; this one ${done.status === 'failed' ? 'failed' : `is ${done.status}`}.` };
  if (start.config.head === 'classification')
    return { error: 'This run trained a classification head, which scores labels rather than generating text: its eval accuracy is in the panel.' };
  const out = done.outputDir;
  if (!out || !fs.existsSync(out)) return { error: `The run's output folder ${out ?? '(none)'} is missing; Try It loads the model from it.` };
  const format = start.dataset?.format && FORMATS.includes(start.dataset.format) ? start.dataset.format : 'text';
  const common = { format, modelSeed: Number.isInteger(start.config.seed) ? start.config.seed : 42, backend: start.config.backend };
  if (ADAPTER_FILES.some((f) => fs.existsSync(path.join(out, f)))) return { model: start.config.model, adapter: out, ...common };
  if (fs.existsSync(path.join(out, 'model.safetensors'))) return { model: out, ...common };
  return { error: `${out} holds neither a model (model.safetensors) nor an adapter (adapter_config.json).` };
}

/**
 * The user's text as the model saw prompts in training: a JSON object is taken as a record of the
 * dataset's format; plain text fills the format's input field (alpaca's instruction, the chat's user
 * message, the completion's prompt, the text to classify). For `text` data the text is the start of a
 * document and goes as it is.
 */
export function formatTryItPrompt(text: string, format: string): string {
  let record: Record<string, unknown> | undefined;
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    try {
      const value = JSON.parse(trimmed) as unknown;
      if (value && typeof value === 'object' && !Array.isArray(value)) record = value as Record<string, unknown>;
    } catch {
      // not JSON: plain text
    }
  }
  switch (format) {
    case 'alpaca':
      return formatRecord(record ?? { instruction: text }, 'alpaca').prompt;
    case 'chat':
      return formatRecord(record ?? { messages: [{ role: 'user', content: text }] }, 'chat').prompt;
    case 'completion':
      return formatRecord(record ?? { prompt: text }, 'completion').prompt;
    case 'classification':
      return formatRecord(record ?? { text }, 'classification').prompt;
    default:
      return record && typeof record.text === 'string' ? record.text : text;
  }
}

/**
 * `finetune generate`'s arguments for one request: the prompt already formatted (so `--template` stays
 * `none`), greedy at temperature 0, a fresh sampling seed per request above it, JSON output. The flags
 * come from the request's type in protocol/generate.ts, which the CLI parses.
 */
export function generateArgs(target: TryItTarget, prompt: string, request: TryItRequest, seed = 0): string[] {
  const generate: GenerateRequest = {
    model: target.model,
    adapter: target.adapter,
    prompt,
    maxNewTokens: request.maxNewTokens,
    temperature: request.temperature,
    topK: request.topK,
    topP: request.topP,
    seed,
    modelSeed: target.modelSeed,
    backend: target.backend as BackendChoice | undefined,
  };
  return ['generate', ...generateFlags(generate)];
}

/** What `finetune generate --json` printed: the result's text (protocol/generate.ts); plain stdout otherwise. */
export function parseGenerateOutput(stdout: string): string {
  return parseGenerateResult(stdout)?.text ?? stdout.replace(/\n$/, '');
}

/** What a generation child answered: its result line (its text at least), or its plain stdout as the text. */
export type GenerateOutput = Partial<GenerateResult> & Pick<GenerateResult, 'text'>;

export interface GenerateProcessOptions extends CliProcessOptions {
  args: string[];
  env?: NodeJS.ProcessEnv;
}

export const DEFAULT_GENERATE_TIMEOUT_MS = 5 * 60_000;
const MAX_OUTPUT_CHARS = 1_000_000;

/** Runs one generation in a child process; `cancel()` kills it (the promise then rejects). */
export function runGenerate(opts: GenerateProcessOptions): { result: Promise<GenerateOutput>; cancel(): void } {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_GENERATE_TIMEOUT_MS;
  const run = startCli(
    { ...opts, timeoutMs },
    opts.args,
    {
      timeout: `generation took longer than ${Math.round(timeoutMs / 1000)} s and was stopped`,
      cancelled: 'generation was cancelled',
      exited: 'the generator',
    },
    MAX_OUTPUT_CHARS,
  );
  return { result: run.result.then((stdout) => parseGenerateResult(stdout) ?? { text: parseGenerateOutput(stdout) }), cancel: run.cancel };
}

/**
 * One panel's Try It: reads the run's events at each request (a resumed run has a new output), runs one
 * generation at a time (a new request replaces the one in flight) and answers with the panel's message.
 */
export class TryItSession {
  private current: { cancel(): void } | undefined;

  constructor(
    private readonly runDir: string,
    private readonly process: Omit<GenerateProcessOptions, 'args'>,
  ) {}

  async handle(request: TryItRequest): Promise<RunPanelHostMessage | undefined> {
    const target = tryItTarget(readRunEvents(this.runDir));
    if ('error' in target) return { type: 'tryItError', message: target.error };
    if (!request.prompt.trim() && target.format !== 'text') return { type: 'tryItError', message: 'Type a prompt first.' };
    const prompt = formatTryItPrompt(request.prompt, target.format);
    this.current?.cancel();
    const seed = request.temperature > 0 ? Math.floor(Math.random() * 2 ** 31) : 0;
    const run = runGenerate({ cwd: this.runDir, ...this.process, args: generateArgs(target, prompt, request, seed) });
    this.current = run;
    try {
      const output = await run.result;
      const speed = describeGenerateSpeed(output);
      return { type: 'tryItResult', text: output.text, prompt, ...(speed ? { speed } : {}) };
    } catch (err) {
      // A request replaced by a newer one gets no answer: the newer one answers.
      if (this.current !== run) return undefined;
      return { type: 'tryItError', message: (err as Error).message };
    } finally {
      if (this.current === run) this.current = undefined;
    }
  }

  dispose(): void {
    this.current?.cancel();
    this.current = undefined;
  }
}
