// Which family a config.json belongs to and how many parameters its model has, from the config alone and
// without TensorFlow.js: the extension host lists the Hugging Face cache and model folders with it. The
// families' configs and closed-form counts are their own (gpt2/config.ts, llama/config.ts); the rule is
// registry.ts's familyForHfConfig (architectures, then model_type, then GPT-2 for a config naming
// neither), whose family list loads the models and so TensorFlow.js. test/unit/quickpick-models.test.ts
// checks that both accept the same architectures and count the same parameters.
import * as gpt2 from './gpt2/config';
import * as llama from './llama/config';

/** A config.json the trainer can load: its family and size. */
export interface ArchitectureSummary {
  /** config.json's `model_type` of the family (`gpt2`, `llama`, `qwen2`, `qwen3`). */
  modelType: string;
  /** The family's display name. */
  familyName: string;
  /** Every base parameter, a tied head once (transformers' `num_parameters()`). */
  parameters: number;
  layers: number;
}

interface FamilyNames {
  modelType: string;
  familyName: string;
  architectures: readonly string[];
}

/** GPT-2's architectures as trainer/models/gpt2/index.ts declares them. */
const GPT2_NAMES: FamilyNames = { modelType: 'gpt2', familyName: 'GPT-2', architectures: ['GPT2LMHeadModel', 'GPT2Model', 'GPT2ForSequenceClassification'] };

const LLAMA_NAMES: readonly FamilyNames[] = (Object.keys(llama.LLAMA_ARCHITECTURES) as llama.LlamaModelType[]).map((modelType) => {
  const names = llama.LLAMA_ARCHITECTURES[modelType];
  return {
    modelType,
    familyName: { llama: 'Llama', qwen2: 'Qwen2', qwen3: 'Qwen3' }[modelType],
    architectures: [names.causalLm, names.base, names.classification],
  };
});

/** Every family, GPT-2 (the default for a config.json naming neither field) first, as registry.ts orders them. */
const FAMILY_NAMES: readonly FamilyNames[] = [GPT2_NAMES, ...LLAMA_NAMES];

/** Every architecture the trainer loads, in registry.ts's order. */
export function knownArchitectures(): string[] {
  return FAMILY_NAMES.flatMap((f) => f.architectures);
}

/**
 * The family and parameter count of a parsed config.json, or why the trainer cannot load it (an
 * unsupported architecture, or a config its family refuses), in the trainer's own words.
 */
export function summarizeHfConfig(raw: unknown, where = 'config.json'): ArchitectureSummary | { unsupported: string } {
  const r = raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  const architectures = Array.isArray(r.architectures) ? r.architectures : [];
  const family =
    FAMILY_NAMES.find((f) => architectures.some((a) => f.architectures.includes(a as string))) ??
    FAMILY_NAMES.find((f) => f.modelType === r.model_type) ??
    (architectures.length === 0 && r.model_type === undefined ? GPT2_NAMES : undefined);
  if (!family) {
    const named =
      architectures.length > 0 ? `architecture ${architectures.map((a) => JSON.stringify(a)).join(', ')}` : `model_type ${JSON.stringify(r.model_type)}`;
    return { unsupported: `${named} is not supported (supported architectures: ${knownArchitectures().join(', ')})` };
  }
  try {
    if (family === GPT2_NAMES) {
      const c = gpt2.validateConfig(gpt2.fromHfConfig(raw, where));
      return { modelType: family.modelType, familyName: family.familyName, parameters: gpt2.baseParameterCount(c), layers: c.nLayer };
    }
    const c = llama.validateConfig(llama.fromHfConfig(raw, where));
    return { modelType: family.modelType, familyName: family.familyName, parameters: llama.baseParameterCount(c), layers: c.numLayers };
  } catch (err) {
    return { unsupported: (err as Error).message };
  }
}
