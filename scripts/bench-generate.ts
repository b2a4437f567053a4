// Generation speed with and without the key/value cache: greedy decoding of 64 new tokens after an 8-token
// prompt on GPT-2 `tiny` and on a random Llama of the llama-gqa fixture's shape (grouped-query attention)
// with a 256-position context, so that 8 + 64 fits. One JSON line per model and mode, the best of two runs:
//   node --import tsx scripts/bench-generate.ts [--backend auto|wasm|cpu|webgpu|tensorflow] [--new-tokens N]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendChoice } from '../protocol/trainer';
import { initBackend } from '../trainer/compute/backend';
import { generateTokens } from '../trainer/generate';
import { buildModel } from '../trainer/loadModel';
import { presetConfig } from '../trainer/models/gpt2/config';
import { fromHfConfig } from '../trainer/models/llama/config';
import type { ModelConfig } from '../trainer/models/registry';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { backend: { type: 'string', default: 'auto' }, 'new-tokens': { type: 'string', default: '64' } } });
  const newTokens = Number(values['new-tokens']);
  if (!Number.isInteger(newTokens) || newTokens < 2) throw new Error(`--new-tokens must be an integer of 2 or more, got ${values['new-tokens']}`);
  await initBackend(values.backend as BackendChoice);

  const fixture = path.join(__dirname, '..', 'test', 'fixtures', 'llama', 'llama-gqa', 'config.json');
  const llama = { ...fromHfConfig(JSON.parse(fs.readFileSync(fixture, 'utf8')), 'llama-gqa/config.json'), maxPositions: 256 };
  const models: [string, ModelConfig][] = [
    ['gpt2 tiny', presetConfig('tiny')],
    ['llama-gqa shape, context 256', llama],
  ];
  const round = (x: number) => Math.round(x * 10) / 10;
  for (const [name, config] of models) {
    const model = buildModel(config, { strategy: 'full' }, 42);
    const prompt = Array.from({ length: 8 }, (_, i) => (i * 37) % 200);
    for (const cache of [true, false]) {
      let best = { tokensPerSecond: 0, prefillMs: 0, decodeSteps: 0 };
      for (let run = 0; run < 2; run++) {
        const r = await generateTokens(model, prompt, { maxNewTokens: newTokens, temperature: 0, topK: 0, seed: 0, stopAtEos: false, eosId: -1, cache });
        const tokensPerSecond = r.decodeSteps / (r.decodeMs / 1000);
        if (tokensPerSecond > best.tokensPerSecond) best = { tokensPerSecond, prefillMs: r.prefillMs, decodeSteps: r.decodeSteps };
      }
      const line = {
        model: name,
        backend: tf.getBackend(),
        cache,
        tokensPerSecond: round(best.tokensPerSecond),
        prefillMs: round(best.prefillMs),
        decodeSteps: best.decodeSteps,
      };
      console.log(JSON.stringify(line));
    }
    model.dispose();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
