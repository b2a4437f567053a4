// `finetune generate --model M [--adapter DIR] --prompt TEXT [...]`: a continuation of the prompt from a
// base or fine-tuned model; greedy unless --temperature is above 0.
import { DATASET_FORMATS, type DatasetFormat } from '../language/types';
import { describeGenerateSpeed, GENERATE_FLAGS, type GenerateRequest, type GenerateResult } from '../protocol/generate';
import { optionSpec, optionValues, TRAIN_DEFAULTS } from '../protocol/options';
import type { BackendChoice } from '../protocol/trainer';
import { generate } from '../trainer/generate';
import { numberFlag, parseFlags, UsageError } from './usage';

export const HELP = `usage: finetune generate --model M [--adapter DIR] --prompt TEXT [options] [--json]
  --model M             preset, model folder (a run's output/ for full fine-tuning) or Hugging Face repo id
  --adapter DIR         a LoRA, bottleneck-adapter or prompt-tuning output folder to apply to --model
  --prompt TEXT         the prompt
  --template F          format the prompt like a training record: alpaca, chat, completion, classification or none (default)
  --max-new-tokens N    default 64
  --temperature T       0 (default) = greedy; above 0 samples from softmax(logits / T)
  --top-k K             sample among the K most likely tokens (default 0 = all)
  --top-p P             then among the fewest most likely tokens whose probability reaches P (default 1 = all)
  --seed S              sampling seed (default 0)
  --model-seed S        seed the random 'tiny' preset was built with (default 42, the training default)
  --no-stop             do not stop at end-of-text
  --backend B           auto (default), tensorflow, webgpu, wasm or cpu
  --json                print {text, tokens, prompt, promptTokens, stopReason, prefillMs, decodeMs, tokensPerSecond}
The prompt is encoded in one pass and each new token in one step over a key/value cache; the speed
(prefill time, decode tokens/s) goes to stderr unless --json puts it in the result.`;

/** The flags `generate` takes: the request's (protocol/generate.ts, which Try It builds its arguments from) and --json. */
export const GENERATE_OPTIONS = {
  ...(Object.fromEntries(Object.values(GENERATE_FLAGS).map(({ flag, type }) => [flag, { type }])) as {
    [K in keyof typeof GENERATE_FLAGS as (typeof GENERATE_FLAGS)[K]['flag']]: { type: (typeof GENERATE_FLAGS)[K]['type'] };
  }),
  json: { type: 'boolean' },
} as const;

/** The request the flags describe, each value checked; usage errors name the flag. */
export function generateRequest(values: ReturnType<typeof parseFlags<typeof GENERATE_OPTIONS>>['values']): GenerateRequest {
  if (!values.model) throw new UsageError(`--model is required\n${HELP}`);
  if (values.prompt === undefined) throw new UsageError(`--prompt is required\n${HELP}`);
  const template = values.template ?? 'none';
  if (template !== 'none' && !(DATASET_FORMATS as readonly string[]).includes(template))
    throw new UsageError(`--template must be none or one of ${DATASET_FORMATS.join(', ')}, got '${template}'`);
  const backends = optionValues(optionSpec('backend')!) ?? [];
  const backend = values.backend ?? TRAIN_DEFAULTS.backend;
  if (!backends.includes(backend)) throw new UsageError(`--backend must be one of ${backends.join(', ')}, got '${backend}'`);
  return {
    model: values.model,
    adapter: values.adapter,
    prompt: values.prompt,
    template: template as DatasetFormat | 'none',
    maxNewTokens: numberFlag('max-new-tokens', values['max-new-tokens'], 64, { integer: true, min: 1 }),
    temperature: numberFlag('temperature', values.temperature, 0, { min: 0 }),
    topK: numberFlag('top-k', values['top-k'], 0, { integer: true, min: 0 }),
    topP: numberFlag('top-p', values['top-p'], 1, { min: 0, max: 1 }),
    seed: numberFlag('seed', values.seed, 0, { integer: true, min: 0 }),
    modelSeed: numberFlag('model-seed', values['model-seed'], TRAIN_DEFAULTS.seed, { integer: true, min: 0 }),
    noStop: values['no-stop'] === true,
    backend: backend as BackendChoice,
  };
}

export async function run(args: string[]): Promise<number> {
  const { values } = parseFlags(args, GENERATE_OPTIONS);
  const request = generateRequest(values);
  const result: GenerateResult = await generate({
    modelSpec: request.model,
    adapterDir: request.adapter,
    prompt: request.prompt,
    template: request.template,
    maxNewTokens: request.maxNewTokens,
    temperature: request.temperature,
    topK: request.topK,
    topP: request.topP,
    seed: request.seed,
    modelSeed: request.modelSeed,
    stopAtEos: !request.noStop,
    backend: request.backend,
    onLog: (m) => process.stderr.write(m + '\n'),
  });
  process.stdout.write((values.json ? JSON.stringify(result) : result.text) + '\n');
  const speed = describeGenerateSpeed(result);
  if (!values.json && speed) process.stderr.write(speed + '\n');
  return 0;
}
