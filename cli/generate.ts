// `finetune generate --model M [--adapter DIR] --prompt TEXT [...]`: a continuation of the prompt from a
// base or fine-tuned model; greedy unless --temperature is above 0.
import { DATASET_FORMATS, type DatasetFormat } from '../language/types';
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
  --seed S              sampling seed (default 0)
  --model-seed S        seed the random 'tiny' preset was built with (default 42, the training default)
  --no-stop             do not stop at end-of-text
  --backend B           auto (default), tensorflow, webgpu, wasm or cpu
  --json                print {text, tokens, prompt, promptTokens, stopReason}`;

/** The flags `generate` takes (Try It builds its arguments for exactly these). */
export const GENERATE_OPTIONS = {
  model: { type: 'string' },
  adapter: { type: 'string' },
  prompt: { type: 'string' },
  template: { type: 'string' },
  'max-new-tokens': { type: 'string' },
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  seed: { type: 'string' },
  'model-seed': { type: 'string' },
  'no-stop': { type: 'boolean' },
  backend: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export async function run(args: string[]): Promise<number> {
  const { values } = parseFlags(args, GENERATE_OPTIONS);
  if (!values.model) throw new UsageError(`--model is required\n${HELP}`);
  if (values.prompt === undefined) throw new UsageError(`--prompt is required\n${HELP}`);
  const template = values.template ?? 'none';
  if (template !== 'none' && !(DATASET_FORMATS as readonly string[]).includes(template))
    throw new UsageError(`--template must be none or one of ${DATASET_FORMATS.join(', ')}, got '${template}'`);
  const backend = values.backend ?? 'auto';
  if (!['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'].includes(backend))
    throw new UsageError(`--backend must be one of auto, tensorflow, webgpu, wasm, cpu, got '${backend}'`);
  const result = await generate({
    modelSpec: values.model,
    adapterDir: values.adapter,
    prompt: values.prompt,
    template: template as DatasetFormat | 'none',
    maxNewTokens: numberFlag('max-new-tokens', values['max-new-tokens'], 64, { integer: true, min: 1 }),
    temperature: numberFlag('temperature', values.temperature, 0, { min: 0 }),
    topK: numberFlag('top-k', values['top-k'], 0, { integer: true, min: 0 }),
    seed: numberFlag('seed', values.seed, 0, { integer: true, min: 0 }),
    modelSeed: numberFlag('model-seed', values['model-seed'], 42, { integer: true, min: 0 }),
    stopAtEos: values['no-stop'] !== true,
    backend: backend as 'auto',
    onLog: (m) => process.stderr.write(m + '\n'),
  });
  if (values.json) process.stdout.write(JSON.stringify(result) + '\n');
  else process.stdout.write(result.text + '\n');
  return 0;
}
