// A run's settings as a Hugging Face TRL + Accelerate job (`finetune export --to trl`): the text of every
// file the job folder holds except its data (trainer/export/jobData.ts). Pure: the CLI resolves the run,
// its model and its records, and writes the files (trainer/export/jobFolder.ts).
//
// How the files reproduce the run (TRL 1.9.0, read from trl/trainer/sft_trainer.py `_prepare_dataset`):
// the data is pre-tokenized (`input_ids`), so SFTTrainer does not tokenize it again; with
// `completion_only_loss: true` it builds `labels` = input_ids where `completion_mask` is 1 and -100
// elsewhere. Without that key TRL enables completion-only loss only for `prompt`/`completion` columns,
// so a pre-tokenized dataset would train every token; it is therefore always written out. `packing` is
// false (the run trains one record a row), and `max_length` is the run's, which the records already fit.
//
// What `trl sft`'s command line cannot express (partial freezing, prompt tuning, the classification head,
// multi-task α_t, early stopping, merging LoRA) goes into a generated train.py (trainer/export/trainPy.ts)
// over the same config file; bottleneck adapters have no PEFT method of the same shape and are refused.
import type { TrainConfig } from '../../protocol/trainer';
import { trainPy, type TrainPyJob } from './trainPy';
import { TRL_VERSIONS } from './trlVersions';
import { toYaml, type YamlValue } from './yaml';

/** A run that cannot become this job: the message names what and why. */
export class ExportError extends Error {}

export type Sharding = 'ddp' | 'zero2' | 'zero3' | 'fsdp';
export type MixedPrecision = 'bf16' | 'fp16' | 'no';

export interface ClusterTarget {
  /** GPUs per node. */
  gpus: number;
  nodes: number;
  sharding: Sharding;
  mixedPrecision: MixedPrecision;
  /** SkyPilot's accelerator name (`H100`, `A100-80GB`, …). */
  accelerator: string;
}

export interface JobInput {
  /** The run's complete settings. */
  config: TrainConfig;
  /** The run folder's name, for the job's name and README. */
  runName: string;
  /** What the cluster loads: a Hugging Face repo id or a path there. */
  modelId: string;
  /** transformers' class of one block, for FSDP's wrap policy (GPT2Block, LlamaDecoderLayer, …). */
  blockClass: string;
  /** The longest example, as the run cuts them. */
  maxLength: number;
  /** LoRA's target modules as PEFT names them (`default` already the family's list). */
  loraTargets: string[] | 'all-linear';
  /** Task names by task_id (`''` for records without a task); empty when no record has one. */
  tasks: string[];
  /** Classification head: the labels by id. */
  labels?: string[];
  trainRows: number;
  evalRows: number;
  /** The run's optimizer steps, for the final checkpoint's cadence. */
  totalSteps: number;
  target: ClusterTarget;
}

export interface JobFiles {
  /** Relative path -> text. */
  files: Record<string, string>;
  /** `trl sft` (TRL's own script) or the generated train.py, and why train.py. */
  entry: 'trl sft' | 'train.py';
  reasons: string[];
  batch: { perDevice: number; gradAccum: number; world: number; effective: number };
}

/** The per-device batch and accumulation whose product over every GPU equals the run's batch × accumulation. */
export function splitBatch(batchSize: number, gradAccum: number, world: number): { perDevice: number; gradAccum: number } {
  const effective = batchSize * gradAccum;
  if (effective % world !== 0) {
    throw new ExportError(
      `the run's effective batch (batch size ${batchSize} × gradient accumulation ${gradAccum} = ${effective}) cannot be split evenly over ${world} GPU(s); ` +
        "choose --gpus and --nodes whose product divides it, or change the run's batch size",
    );
  }
  const perWorld = effective / world;
  // The largest per-device batch that is not above the run's own (memory) and divides the share evenly.
  let perDevice = Math.min(batchSize, perWorld);
  while (perWorld % perDevice !== 0) perDevice--;
  return { perDevice, gradAccum: perWorld / perDevice };
}

/** HF's scheduler names for ours: warm-up then constant, linear or cosine decay (get_*_schedule_with_warmup). */
const SCHEDULERS = { constant: 'constant_with_warmup', linear: 'linear', cosine: 'cosine' } as const;

/** Why the run needs the generated train.py rather than `trl sft`, or none. */
function trainPyReasons(c: TrainConfig, tasks: readonly string[]): string[] {
  const reasons: string[] = [];
  if (c.strategy === 'partial')
    reasons.push(`partial fine-tuning (the first ${c.freezeLayers} block(s)${c.freezeEmbeddings ? ' and the embeddings' : ''} frozen)`);
  if (c.strategy === 'prompt') reasons.push('prompt tuning (PEFT PromptTuningConfig; trl sft configures LoRA only)');
  if (c.head === 'classification') reasons.push('the classification head (AutoModelForSequenceClassification)');
  if (tasks.some((t) => t !== '')) reasons.push('multi-task loss Σ_t α_t·L_t (a compute_loss over per-task means)');
  if (c.earlyStoppingPatience > 0) reasons.push(`early stopping (patience ${c.earlyStoppingPatience})`);
  if (c.strategy === 'lora' && c.merge) reasons.push('merging LoRA into the base model after training');
  return reasons;
}

function refuseUnexportable(c: TrainConfig, input: JobInput): void {
  if (c.strategy === 'adapter')
    throw new ExportError(
      'bottleneck adapters (--strategy adapter) cannot be exported: PEFT has no adapter of this shape (down n_embd→m, gelu_new, up, residual after attention and after the MLP), so the cluster could not train the same model; export a lora, full, partial or prompt run',
    );
  if (!['full', 'partial', 'lora', 'prompt'].includes(c.strategy))
    throw new ExportError(`the strategy '${c.strategy}' has no TRL/PEFT equivalent and cannot be exported`);
  if (c.earlyStoppingPatience > 0 && c.evalEvery === 0)
    throw new ExportError(
      "early stopping exports need --eval-every N: transformers' EarlyStoppingCallback needs evaluations and checkpoints on the same step cadence",
    );
  if (c.earlyStoppingPatience > 0 && input.evalRows === 0) throw new ExportError('early stopping needs eval records, and this run has none');
  const { gpus, nodes } = input.target;
  if (!Number.isInteger(gpus) || gpus < 1 || !Number.isInteger(nodes) || nodes < 1)
    throw new ExportError('--gpus and --nodes must be whole numbers of at least 1');
}

function sftConfig(input: JobInput, batch: { perDevice: number; gradAccum: number }): Record<string, YamlValue> {
  const c = input.config;
  const lora = c.strategy === 'lora';
  const evaluates = input.evalRows > 0;
  const saveSteps = c.earlyStoppingPatience > 0 ? c.evalEvery : c.checkpointEvery > 0 ? c.checkpointEvery : input.totalSteps;
  const map: Record<string, YamlValue> = {
    // ModelConfig
    model_name_or_path: input.modelId,
    dtype: 'float32',
    use_peft: lora,
  };
  if (lora) {
    // Every LoRA setting written out: TRL's defaults (r 16, alpha 32, dropout 0.05) are not the run's.
    Object.assign(map, {
      lora_r: c.loraR,
      lora_alpha: c.loraAlpha,
      lora_dropout: c.loraDropout,
      lora_target_modules: input.loraTargets === 'all-linear' ? ['all-linear'] : [...input.loraTargets],
      lora_task_type: c.head === 'classification' ? 'SEQ_CLS' : 'CAUSAL_LM',
      use_rslora: false,
      use_dora: false,
    });
  }
  Object.assign(map, {
    // ScriptArguments: data/ is a folder of JSON lines; the datasets library names eval.jsonl's split `test`.
    dataset_name: 'data',
    dataset_train_split: 'train',
    dataset_test_split: 'test',
    // SFTConfig: the records as previewed, never re-tokenized, masks applied.
    max_length: input.maxLength,
    truncation_mode: 'keep_start',
    packing: false,
    padding_free: false,
    completion_only_loss: true,
    assistant_only_loss: false,
    shuffle_dataset: false,
    loss_type: 'nll',
    // TrainingArguments
    output_dir: 'output',
    learning_rate: c.lr,
    lr_scheduler_type: SCHEDULERS[c.schedule],
    warmup_steps: c.warmupSteps,
    optim: 'adamw_torch',
    weight_decay: c.weightDecay,
    adam_beta1: 0.9,
    adam_beta2: 0.999,
    adam_epsilon: 1e-8,
    max_grad_norm: c.gradClip,
    num_train_epochs: c.maxSteps === undefined ? c.epochs : 1,
    max_steps: c.maxSteps ?? -1,
    per_device_train_batch_size: batch.perDevice,
    per_device_eval_batch_size: batch.perDevice,
    gradient_accumulation_steps: batch.gradAccum,
    seed: c.seed,
    data_seed: c.seed,
    bf16: input.target.mixedPrecision === 'bf16',
    fp16: input.target.mixedPrecision === 'fp16',
    // TRL's default is true; the run recomputes nothing, and with frozen blocks or embeddings (partial, prompt
    // tuning) checkpointing can cut their segments out of the backward pass, so it is off, as locally.
    gradient_checkpointing: false,
    logging_strategy: 'steps',
    logging_steps: 1,
    logging_first_step: true,
    eval_strategy: !evaluates ? 'no' : c.evalEvery > 0 ? 'steps' : 'epoch',
    ...(evaluates && c.evalEvery > 0 ? { eval_steps: c.evalEvery } : {}),
    // A checkpoint (with trainer_state.json, which `finetune import` reads) at least at the last step.
    save_strategy: 'steps',
    save_steps: Math.max(1, saveSteps),
    save_total_limit: Math.max(1, (c.keepCheckpoints ?? 1) + (c.earlyStoppingPatience > 0 ? 1 : 0)),
    report_to: 'none',
  });
  if (c.earlyStoppingPatience > 0) Object.assign(map, { load_best_model_at_end: true, metric_for_best_model: 'eval_loss', greater_is_better: false });
  return map;
}

function accelerateConfig(input: JobInput, batch: { gradAccum: number }): Record<string, YamlValue> {
  const { gpus, nodes, sharding, mixedPrecision } = input.target;
  const world = gpus * nodes;
  const distributed = sharding === 'zero2' || sharding === 'zero3' ? 'DEEPSPEED' : sharding === 'fsdp' ? 'FSDP' : world > 1 ? 'MULTI_GPU' : 'NO';
  const map: Record<string, YamlValue> = {
    compute_environment: 'LOCAL_MACHINE',
    distributed_type: distributed,
    mixed_precision: mixedPrecision,
    use_cpu: false,
    debug: false,
    num_machines: nodes,
    num_processes: world,
    machine_rank: 0,
    main_process_port: 29500,
    rdzv_backend: 'static',
    same_network: true,
    gpu_ids: 'all',
    main_training_function: 'main',
  };
  if (distributed === 'DEEPSPEED') {
    const stage = sharding === 'zero3' ? 3 : 2;
    map.deepspeed_config = {
      zero_stage: stage,
      // The same values as sft_config.yaml's: the Trainer refuses a DeepSpeed config that disagrees.
      gradient_accumulation_steps: batch.gradAccum,
      gradient_clipping: input.config.gradClip,
      offload_optimizer_device: 'none',
      offload_param_device: 'none',
      zero3_init_flag: stage === 3,
      zero3_save_16bit_model: stage === 3,
      deepspeed_multinode_launcher: 'standard',
    };
  }
  if (distributed === 'FSDP') {
    map.fsdp_config = {
      fsdp_version: 2,
      fsdp_auto_wrap_policy: 'TRANSFORMER_BASED_WRAP',
      fsdp_transformer_layer_cls_to_wrap: input.blockClass,
      // A full state dict, so the saved output is an ordinary HF / PEFT folder that `finetune import` reads.
      fsdp_state_dict_type: 'FULL_STATE_DICT',
      fsdp_cpu_ram_efficient_loading: true,
      fsdp_offload_params: false,
      fsdp_reshard_after_forward: true,
      fsdp_activation_checkpointing: false,
    };
  }
  return map;
}

function launchSh(input: JobInput, entry: JobFiles['entry']): string {
  const { gpus, nodes } = input.target;
  const program = entry === 'trl sft' ? '-m trl.scripts.sft' : 'train.py';
  return `#!/usr/bin/env bash
# Starts the job exported from run ${input.runName} (README.md). One host: ./launch.sh
# Several nodes: on every node, NODE_RANK=<0..NUM_NODES-1> MASTER_ADDR=<node 0's address> ./launch.sh
set -euo pipefail
cd "$(dirname "$0")"
GPUS_PER_NODE="\${GPUS_PER_NODE:-${gpus}}"
NUM_NODES="\${NUM_NODES:-${nodes}}"
NODE_RANK="\${NODE_RANK:-0}"
MASTER_PORT="\${MASTER_PORT:-29500}"
if [ "$NUM_NODES" -gt 1 ] && [ -z "\${MASTER_ADDR:-}" ]; then
  echo "launch.sh: a job on $NUM_NODES nodes needs MASTER_ADDR (node 0's address) and NODE_RANK on every node" >&2
  exit 2
fi
if [ "$((NUM_NODES * GPUS_PER_NODE))" -ne ${gpus * nodes} ]; then
  # The per-device batch and accumulation in sft_config.yaml give the run's effective batch on exactly this many GPUs.
  echo "launch.sh: this job was exported for ${nodes} node(s) x ${gpus} GPU(s); export it again (finetune export --gpus G --nodes N) for $NUM_NODES x $GPUS_PER_NODE" >&2
  exit 2
fi
MASTER_ADDR="\${MASTER_ADDR:-127.0.0.1}"
exec accelerate launch --config_file accelerate_config.yaml \\
  --num_machines "$NUM_NODES" --num_processes "$((NUM_NODES * GPUS_PER_NODE))" \\
  --machine_rank "$NODE_RANK" --main_process_ip "$MASTER_ADDR" --main_process_port "$MASTER_PORT" \\
  ${program} --config sft_config.yaml
`;
}

function requirementsTxt(sharding: Sharding): string {
  const v = TRL_VERSIONS;
  return [
    '# The versions this job was written for: the option names in sft_config.yaml and accelerate_config.yaml',
    "# were checked against these versions' sources. Install PyTorch for the cluster's CUDA first.",
    `trl==${v.trl}`,
    `transformers==${v.transformers}`,
    `accelerate==${v.accelerate}`,
    `peft==${v.peft}`,
    `datasets==${v.datasets}`,
    ...(sharding === 'zero2' || sharding === 'zero3' ? [`deepspeed>=${v.deepspeedFloor}`] : []),
    '',
  ].join('\n');
}

function skyYaml(input: JobInput): string {
  const { gpus, nodes, accelerator } = input.target;
  return toYaml(
    {
      name: `finetune-${input.runName}`.replace(/[^A-Za-z0-9-]/g, '-').slice(0, 60),
      num_nodes: nodes,
      resources: { accelerators: `${accelerator}:${gpus}` },
      workdir: '.',
      setup: 'pip install -r requirements.txt',
      // SkyPilot sets these on every node; node 0's address is the first of SKYPILOT_NODE_IPS.
      run: `NUM_NODES=$SKYPILOT_NUM_NODES NODE_RANK=$SKYPILOT_NODE_RANK GPUS_PER_NODE=$SKYPILOT_NUM_GPUS_PER_NODE MASTER_ADDR=$(echo "$SKYPILOT_NODE_IPS" | head -n1) ./launch.sh`,
    },
    [`SkyPilot task for run ${input.runName}: sky launch -c finetune sky.yaml`],
  );
}

function readme(input: JobInput, entry: JobFiles['entry'], reasons: string[], batch: JobFiles['batch']): string {
  const c = input.config;
  const { nodes, gpus, sharding } = input.target;
  const shardingText = { ddp: 'data parallel (DDP)', zero2: 'DeepSpeed ZeRO stage 2', zero3: 'DeepSpeed ZeRO stage 3', fsdp: 'FSDP 2' }[sharding];
  return `# Cluster job for run ${input.runName}

Exported by Fine-Tune Studio (\`finetune export --to trl\`): the run's ${c.strategy} fine-tuning of \`${input.modelId}\`
on ${input.trainRows} training and ${input.evalRows} eval records, as a Hugging Face TRL ${TRL_VERSIONS.trl} +
Accelerate ${TRL_VERSIONS.accelerate} job for ${nodes} node(s) × ${gpus} GPU(s), ${shardingText}.

**How this job was checked:** it was generated and checked on a machine without TRL, Accelerate or a GPU, and
has not been run there. Every key of \`sft_config.yaml\` and \`accelerate_config.yaml\` was checked against
the option names of the pinned versions (read from their sources), \`launch.sh\` with \`bash -n\`,
${entry === 'train.py' ? '`train.py` with `python3 -m py_compile`, ' : ''}and \`data/*.jsonl\` against \`finetune preview --json\`.

## Files
- \`data/train.jsonl\`, \`data/eval.jsonl\`: the run's own train / eval split, one row per record in file order:
  \`input_ids\` are the tokens \`finetune preview --json\` shows, \`completion_mask[k]\` is 1 where the token is trained.${
    input.tasks.length ? ' `task_id` indexes the tasks in train.py.' : ''
  }${input.labels ? " Classification rows hold the prompt's `input_ids` and the `label` id." : ''}
- \`sft_config.yaml\`: TRL's config (model, ${c.strategy === 'lora' ? 'LoRA, ' : ''}data, schedule, batch, cadence), read by ${
    entry === 'trl sft' ? '`trl.scripts.sft`' : '`train.py`'
  }. The records are pre-tokenized, so TRL does not tokenize them again; \`completion_only_loss: true\` makes it
  train only the masked tokens, and \`packing: false\` keeps one record a row.
- \`accelerate_config.yaml\`: ${shardingText}, mixed precision ${input.target.mixedPrecision}.
${entry === 'train.py' ? `- \`train.py\`: what TRL's command line cannot express: ${reasons.join('; ')}.\n` : ''}- \`launch.sh\`: the one command that starts it; \`requirements.txt\`: the pinned versions; \`sky.yaml\`: SkyPilot.

## Batch
The run trained batches of ${c.batchSize} with gradient accumulation ${c.gradAccum} (${batch.effective} records a step).
Here each of the ${batch.world} GPU(s) takes ${batch.perDevice} per micro-batch with accumulation ${batch.gradAccum}:
${batch.perDevice} × ${batch.world} × ${batch.gradAccum} = ${batch.effective}, the same effective batch.

## Run it
\`\`\`sh
pip install -r requirements.txt          # after PyTorch for the cluster's CUDA
${
  nodes === 1
    ? `./launch.sh                              # this host's ${gpus} GPU(s)`
    : `# on each of the ${nodes} nodes, NODE_RANK 0 … ${nodes - 1}; MASTER_ADDR is node 0's address
NODE_RANK=0 MASTER_ADDR=<node 0's address> ./launch.sh`
}
# SkyPilot (${nodes} node(s) of ${input.target.accelerator}:${gpus})
sky launch -c finetune sky.yaml
\`\`\`
The GPU counts are part of the batch split above: run it on ${nodes} node(s) of ${gpus} GPU(s), or export again for another shape.
The model, its checkpoints and \`trainer_state.json\` land in \`output/\` (on node 0). Bring them back into
the run with \`finetune import --job <this folder> --run <run folder>\` (or **Import Cluster Results…** in
VS Code); the run's panel then draws the cluster's loss curve next to the local one.

## Known differences from the local run
- Batches are drawn by the Trainer's sampler (seed ${c.seed}), not the local run's length-grouped order.
- Warm-up starts at 0 (Hugging Face's schedules); the local run's starts at lr/warmup.
- With several GPUs, a micro-batch's loss is averaged over the tokens of the whole step (transformers'
  \`average_tokens_across_devices\`)${input.tasks.length ? '; the multi-task loss Σ_t α_t·L_t is taken per micro-batch, as locally' : ''}.
`;
}

/** Every file of the job folder but its data. Throws ExportError for what cannot be exported. */
export function trlJob(input: JobInput): JobFiles {
  const c = input.config;
  refuseUnexportable(c, input);
  const world = input.target.gpus * input.target.nodes;
  const split = splitBatch(c.batchSize, c.gradAccum, world);
  const batch = { ...split, world, effective: c.batchSize * c.gradAccum };
  const reasons = trainPyReasons(c, input.tasks);
  const entry: JobFiles['entry'] = reasons.length ? 'train.py' : 'trl sft';
  const files: Record<string, string> = {
    'sft_config.yaml': toYaml(sftConfig(input, split), [
      `TRL ${TRL_VERSIONS.trl} config for run ${input.runName}, exported by Fine-Tune Studio (README.md).`,
      `Read by ${entry === 'trl sft' ? 'trl.scripts.sft' : 'train.py'} through TrlParser (ScriptArguments, SFTConfig, ModelConfig).`,
    ]),
    'accelerate_config.yaml': toYaml(accelerateConfig(input, split), [`Accelerate ${TRL_VERSIONS.accelerate} config for run ${input.runName}.`]),
    'launch.sh': launchSh(input, entry),
    'requirements.txt': requirementsTxt(input.target.sharding),
    'sky.yaml': skyYaml(input),
  };
  if (entry === 'train.py') {
    const job: TrainPyJob = {
      run: input.runName,
      strategy: c.strategy,
      freezeLayers: c.strategy === 'partial' ? c.freezeLayers : 0,
      freezeEmbeddings: c.strategy === 'partial' && c.freezeEmbeddings,
      lora: c.strategy === 'lora' ? { r: c.loraR, alpha: c.loraAlpha, dropout: c.loraDropout, targets: input.loraTargets, merge: c.merge } : null,
      prompt: c.strategy === 'prompt' ? { virtualTokens: c.virtualTokens ?? 0, initText: c.promptInit ?? null, tokenizer: input.modelId } : null,
      labels: input.labels ?? null,
      tasks: input.tasks,
      taskWeights: input.tasks.map((t) => (t !== '' && c.taskWeights && Object.hasOwn(c.taskWeights, t) ? c.taskWeights[t] : 1)),
      earlyStopping: c.earlyStoppingPatience > 0 ? { patience: c.earlyStoppingPatience, threshold: c.minDelta } : null,
    };
    files['train.py'] = trainPy(job);
  }
  files['README.md'] = readme(input, entry, reasons, batch);
  return { files, entry, reasons, batch };
}
