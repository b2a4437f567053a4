// `finetune generate`: the request the extension's Try It sends it (as flags, in a child process) and the
// JSON line it prints with `--json`. cli/generate.ts parses exactly these flags and prints this result;
// extension/training/tryIt.ts builds the flags and reads the result through the functions below.
import type { DatasetFormat } from '../language/types';
import type { BackendChoice } from './trainer';

export type StopReason = 'eos' | 'max-tokens';

export interface GenerateRequest {
  /** Preset, model folder (a run's full output too) or Hugging Face repo id. */
  model: string;
  /** A LoRA (PEFT), bottleneck-adapter or prompt-tuning (PEFT) output folder to apply to `model`. */
  adapter?: string;
  prompt: string;
  /** Format the prompt as the run's records were formatted; default none (the prompt as it is). */
  template?: DatasetFormat | 'none';
  /** Default 64. */
  maxNewTokens?: number;
  /** 0 (default) = greedy; above 0 samples from softmax(logits / T). */
  temperature?: number;
  /** Sample among the K most likely tokens; default 0 = all. */
  topK?: number;
  /** Sample among the smallest set of most likely tokens whose probability reaches P (after top-k); default 1 = all. */
  topP?: number;
  /** Sampling seed; default 0. */
  seed?: number;
  /** Seed the random `tiny` preset was built with (the run's seed); default 42, the training default. */
  modelSeed?: number;
  /** Do not stop at end-of-text. */
  noStop?: boolean;
  backend?: BackendChoice;
}

/** What `finetune generate --json` prints, one JSON line. */
export interface GenerateResult {
  /** The generated continuation only (not the prompt), decoded. */
  text: string;
  /** Its token ids. */
  tokens: number[];
  /** The prompt as the model saw it (template applied) and its token count. */
  prompt: string;
  promptTokens: number;
  stopReason: StopReason;
  /** Wall time in ms of the prompt's forward pass (the prefill, up to its logits read). */
  prefillMs: number;
  /** Wall time in ms of the decode steps after it (one forward over the key/value cache per token). */
  decodeMs: number;
  /** Decode steps per second of decodeMs; null when there was none (one token, or end-of-text first). */
  tokensPerSecond: number | null;
}

/** The request's flags, in the order they are given; `json` asks for a GenerateResult line. */
export const GENERATE_FLAGS = {
  model: { flag: 'model', type: 'string' },
  adapter: { flag: 'adapter', type: 'string' },
  prompt: { flag: 'prompt', type: 'string' },
  template: { flag: 'template', type: 'string' },
  maxNewTokens: { flag: 'max-new-tokens', type: 'string' },
  temperature: { flag: 'temperature', type: 'string' },
  topK: { flag: 'top-k', type: 'string' },
  topP: { flag: 'top-p', type: 'string' },
  seed: { flag: 'seed', type: 'string' },
  modelSeed: { flag: 'model-seed', type: 'string' },
  noStop: { flag: 'no-stop', type: 'boolean' },
  backend: { flag: 'backend', type: 'string' },
} as const satisfies { [K in keyof GenerateRequest]-?: { flag: string; type: 'string' | 'boolean' } };

/**
 * `finetune generate`'s arguments (after the command name) for a request, with `--json`. Every value is
 * joined to its flag (`--prompt=TEXT`): a prompt or path that starts with `-` is then still a value,
 * never read as an option.
 */
export function generateFlags(request: GenerateRequest): string[] {
  const args: string[] = [];
  for (const [key, { flag, type }] of Object.entries(GENERATE_FLAGS)) {
    const value = request[key as keyof GenerateRequest];
    if (value === undefined || value === false) continue;
    args.push(type === 'boolean' ? `--${flag}` : `--${flag}=${value}`);
  }
  args.push('--json');
  return args;
}

/**
 * The result on the last JSON line of `finetune generate --json`'s stdout (log lines may come before it):
 * a line with the result's `text`; its other fields are checked where present, not required, so that an
 * older or smaller generator's line still gives its text.
 */
export function parseGenerateResult(stdout: string): (Partial<GenerateResult> & Pick<GenerateResult, 'text'>) | undefined {
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i].trim();
    if (!line.startsWith('{')) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      continue; // not a JSON line
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) continue;
    const r = value as Partial<Record<keyof GenerateResult, unknown>>;
    const fits =
      typeof r.text === 'string' &&
      (r.tokens === undefined || (Array.isArray(r.tokens) && r.tokens.every((t) => Number.isInteger(t)))) &&
      (r.prompt === undefined || typeof r.prompt === 'string') &&
      (r.promptTokens === undefined || typeof r.promptTokens === 'number') &&
      (r.stopReason === undefined || r.stopReason === 'eos' || r.stopReason === 'max-tokens') &&
      (r.prefillMs === undefined || typeof r.prefillMs === 'number') &&
      (r.decodeMs === undefined || typeof r.decodeMs === 'number') &&
      (r.tokensPerSecond === undefined || r.tokensPerSecond === null || typeof r.tokensPerSecond === 'number');
    if (fits) return value as Partial<GenerateResult> & Pick<GenerateResult, 'text'>;
  }
  return undefined;
}

/**
 * One line on a generation's speed, as `finetune generate` prints it and Try It shows it: the prompt's
 * prefill time and the decode rate; undefined for a result without timing (an older generator's).
 */
export function describeGenerateSpeed(r: Partial<GenerateResult>): string | undefined {
  if (typeof r.prefillMs !== 'number') return undefined;
  const prompt = typeof r.promptTokens === 'number' ? `${r.promptTokens}-token prompt` : 'prompt';
  const made = Array.isArray(r.tokens) ? `${r.tokens.length} token${r.tokens.length === 1 ? '' : 's'}` : 'tokens';
  const rate = typeof r.tokensPerSecond === 'number' ? `, decoding at ${r.tokensPerSecond.toFixed(1)} tokens/s` : '';
  return `${made}; ${prompt} prefilled in ${Math.round(r.prefillMs)} ms${rate}`;
}
