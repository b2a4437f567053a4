// The Llama family's config.json reader and writer (both RoPE forms, clear errors for what is not
// supported) and the built-in presets, whose base parameter counts must be the published models' exactly.
import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  baseParameterCount,
  checkFitsInMemory,
  fromHfConfig,
  LLAMA_PRESETS,
  type LlamaConfig,
  llamaPresetConfig,
  ModelConfigError,
  toHfConfig,
} from '../../trainer/models/llama/config';
import { llamaStructure } from '../../trainer/models/llama/weights';

const base = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_act: 'silu',
  vocab_size: 256,
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  rope_scaling: null,
  tie_word_embeddings: true,
};

const llama3 = { factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };

/** A config.json `change`d from `base`, parsed; its error message when it is refused. */
const parse = (change: Record<string, unknown>) => fromHfConfig({ ...base, ...change });
function refusal(change: Record<string, unknown>): string {
  try {
    parse(change);
  } catch (err) {
    assert.ok(err instanceof ModelConfigError, `a ModelConfigError, got ${String(err)}`);
    return err.message;
  }
  assert.fail(`${JSON.stringify(change)} was accepted`);
}

/** The count from the parameter layout: every listed parameter and the head's own. */
const structureTotal = (c: LlamaConfig) => {
  const s = llamaStructure(c);
  return s.parameters.reduce((a, p) => a + p.size, 0) + s.lmHead.total;
};

describe('presets: the published configs and their exact parameter counts', () => {
  // transformers' num_parameters() of each model (a tied head counted once).
  const counts: Record<string, number> = {
    'smollm2-135m': 134_515_008,
    'smollm2-360m': 361_821_120,
    'qwen2.5-0.5b': 494_032_768,
    'qwen3-0.6b': 596_049_920,
    'tinyllama-1.1b': 1_100_048_384,
    'llama-3.2-1b': 1_235_814_400,
  };
  for (const [name, count] of Object.entries(counts)) {
    test(`${name}: ${count.toLocaleString('en-US')} base parameters, from the closed form and from the layout alike`, () => {
      const c = llamaPresetConfig(name);
      assert.equal(baseParameterCount(c), count);
      assert.equal(structureTotal(c), count);
    });
  }

  test('SmolLM2-135M and Qwen2.5-0.5B are the shapes their repos publish', () => {
    const smol = llamaPresetConfig('smollm2-135m');
    assert.deepEqual(
      [smol.modelType, smol.hiddenSize, smol.numLayers, smol.numHeads, smol.numKvHeads, smol.headDim, smol.ropeTheta, smol.tieWordEmbeddings],
      ['llama', 576, 30, 9, 3, 64, 100000, true],
    );
    const qwen = llamaPresetConfig('qwen2.5-0.5b');
    assert.deepEqual([qwen.modelType, qwen.hiddenSize, qwen.numKvHeads, qwen.headDim, qwen.rmsNormEps, qwen.ropeTheta], ['qwen2', 896, 2, 64, 1e-6, 1e6]);
    assert.equal(LLAMA_PRESETS['qwen2.5-0.5b'].repo, 'Qwen/Qwen2.5-0.5B');
    const l32 = llamaPresetConfig('llama-3.2-1b');
    assert.deepEqual(l32.rope, { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    assert.equal(llamaPresetConfig('tinyllama-1.1b').tieWordEmbeddings, false);
    assert.equal(llamaPresetConfig('qwen3-0.6b').headDim, 128);
  });

  test("the layout's linears give PEFT's LoRA count for SmolLM2-135M (r = 8 on q_proj and v_proj: 460,800 of 134,975,808)", () => {
    const c = llamaPresetConfig('smollm2-135m');
    const s = llamaStructure(c);
    const lora = s.linears.filter((l) => l.kind.endsWith('q_proj') || l.kind.endsWith('v_proj')).reduce((a, l) => a + 8 * (l.in + l.out), 0);
    assert.equal(lora, 460_800);
    assert.equal(structureTotal(c) + lora, 134_975_808);
    assert.deepEqual(s.linearSuffixes, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
  });

  test('an unknown preset is refused by name, listing the presets', () => {
    assert.throws(() => llamaPresetConfig('llama-9b'), /unknown preset 'llama-9b' \(presets: smollm2-135m, .*llama-3\.2-1b\)/);
  });
});

describe('config.json: both RoPE forms, written back as read', () => {
  test('rope_parameters and the classic rope_theta + rope_scaling give the same model', () => {
    const classic = parse({ rope_theta: 500000, rope_scaling: { rope_type: 'llama3', ...llama3 } });
    const { rope_theta: _t, rope_scaling: _s, ...rest } = base;
    const parameters = fromHfConfig({ ...rest, rope_parameters: { rope_type: 'llama3', rope_theta: 500000, ...llama3 } });
    assert.deepEqual({ ...parameters, ropeForm: 'classic' }, classic);
    assert.equal(parameters.ropeForm, 'parameters');
    // The legacy `type` key and a missing original_max_position_embeddings (max_position_embeddings stands in), as transformers reads them.
    const legacy = parse({ rope_scaling: { type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4 } });
    assert.deepEqual(legacy.rope, { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 });
    assert.deepEqual(parse({ rope_scaling: { rope_type: 'default' } }).rope, { type: 'default' });
  });

  test('toHfConfig then fromHfConfig is the identity, for every preset and both forms', () => {
    const configs = [
      ...Object.keys(LLAMA_PRESETS).map(llamaPresetConfig),
      parse({ rope_parameters: { rope_type: 'llama3', rope_theta: 5e5, ...llama3 }, rope_theta: undefined, rope_scaling: undefined }),
      parse({ attention_bias: true, mlp_bias: true, tie_word_embeddings: false, head_dim: 32, eos_token_id: [2, 3], pad_token_id: 0 }),
    ];
    for (const c of configs) assert.deepEqual(fromHfConfig(toHfConfig(c)), c);
    const written = toHfConfig(llamaPresetConfig('qwen2.5-0.5b'));
    assert.deepEqual(written.architectures, ['Qwen2ForCausalLM']);
    assert.equal(written.use_sliding_window, false);
  });

  test('defaults as transformers has them: head_dim from the width, untied, key/value heads = heads', () => {
    const { num_key_value_heads: _kv, tie_word_embeddings: _tie, ...rest } = base;
    const c = fromHfConfig(rest);
    assert.equal(c.headDim, 16);
    assert.equal(c.tieWordEmbeddings, false);
    assert.equal(c.numKvHeads, 4);
    assert.equal(c.attentionDropout, 0);
  });
});

describe('config.json: what is not supported is a clear message naming it', () => {
  test('an unsupported RoPE type names it and lists the supported ones, in either form', () => {
    assert.match(refusal({ rope_scaling: { rope_type: 'yarn', factor: 4 } }), /rope_scaling\.rope_type "yarn" is not supported \(supported: default, llama3\)/);
    assert.match(refusal({ rope_scaling: { type: 'dynamic', factor: 2 } }), /"dynamic" is not supported/);
    assert.match(
      refusal({ rope_parameters: { rope_type: 'longrope', rope_theta: 1e4 } }),
      /rope_parameters\.rope_type "longrope" is not supported \(supported: default, llama3\)/,
    );
  });

  test('llama3 scaling with a missing or inconsistent field names the field', () => {
    assert.match(
      refusal({ rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1 } }),
      /rope_scaling\.high_freq_factor must be a number for rope type llama3/,
    );
    assert.match(
      refusal({ rope_scaling: { rope_type: 'llama3', ...llama3, high_freq_factor: 1 } }),
      /high_freq_factor \(1\) must be larger than low_freq_factor \(1\)/,
    );
  });

  test('an architecture outside the family, another activation, sliding windows, partial rotary', () => {
    assert.match(
      refusal({ architectures: ['MistralForCausalLM'] }),
      /architecture "MistralForCausalLM" is not supported for model_type 'llama' \(supported: LlamaForCausalLM, LlamaModel/,
    );
    assert.match(refusal({ model_type: 'mistral' }), /model_type "mistral" is not one of the Llama family's \(llama, qwen2, qwen3\)/);
    assert.match(refusal({ hidden_act: 'gelu' }), /hidden_act "gelu" is not supported \(silu\)/);
    assert.match(refusal({ model_type: 'qwen2', architectures: ['Qwen2ForCausalLM'], use_sliding_window: true }), /use_sliding_window true is not supported/);
    assert.match(refusal({ partial_rotary_factor: 0.5 }), /partial_rotary_factor 0\.5 is not supported/);
  });

  test('sizes: heads not a multiple of key/value heads, an odd head_dim, absurd or missing sizes', () => {
    assert.match(refusal({ num_key_value_heads: 3 }), /num_attention_heads \(4\) must be a multiple of num_key_value_heads \(3\)/);
    assert.match(refusal({ head_dim: 15 }), /head_dim must be even/);
    assert.match(refusal({ hidden_size: 66 }), /hidden_size \(66\) must be divisible by num_attention_heads \(4\) when head_dim is not given/);
    assert.match(refusal({ num_hidden_layers: 1e6 }), /num_hidden_layers 1000000 is implausibly large/);
    assert.match(refusal({ vocab_size: undefined }), /missing vocab_size/);
    assert.match(refusal({ vocab_size: 12.5 }), /vocab_size must be a positive integer, got 12.5/);
    assert.match(refusal({ rms_norm_eps: 'small' }), /rms_norm_eps must be a number/);
  });

  test('weights that cannot fit in memory are refused before anything is read', () => {
    assert.throws(
      () => checkFitsInMemory(llamaPresetConfig('llama-3.2-1b'), 'config.json', 2 ** 30),
      /1,235,814,400 parameters, 4\.6 GiB in float32, more than this machine's memory \(1\.0 GiB\)/,
    );
    checkFitsInMemory(llamaPresetConfig('smollm2-135m'), 'config.json', 2 ** 31);
  });
});
