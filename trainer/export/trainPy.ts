// The generated train.py of an exported cluster job: what `trl sft` cannot express, over TRL 1.9.0's,
// PEFT's and transformers' APIs, reading the same sft_config.yaml (TrlParser) and data/ as `trl sft`.
// One script for every case; the run's own choices are the JOB constant at its top, so the Python below
// is the same text for every run and a test compiles it (python3 -m py_compile).
//
// What it implements, each exactly as the local trainer does:
// - partial: the first N blocks (the model's ModuleList of num_hidden_layers blocks) frozen, and with
//   freezeEmbeddings the token and position embeddings;
// - prompt: PEFT's PromptTuningConfig (TEXT init from the text, else RANDOM), the base model frozen;
// - classification: AutoModelForSequenceClassification over the prompt's tokens, the labels by id as the
//   run numbered them, pad = eos (the last non-padding token is scored), LoRA with `score` trained;
// - multi-task: the loss of a micro-batch is Σ_t α_t·L_t, L_t task t's token-weighted mean cross-entropy
//   over its loss tokens in the micro-batch (trainer/step.ts rowWeights), averaged over accumulation;
// - early stopping: EarlyStoppingCallback(patience, threshold = minDelta) on eval_loss;
// - LoRA with merge: the adapter merged into the base model before saving.
export interface TrainPyJob {
  run: string;
  strategy: string;
  freezeLayers: number;
  freezeEmbeddings: boolean;
  lora: { r: number; alpha: number; dropout: number; targets: string[] | 'all-linear'; merge: boolean } | null;
  prompt: { virtualTokens: number; initText: string | null; tokenizer: string } | null;
  labels: string[] | null;
  /** Task names by task_id ('' = records without a task). */
  tasks: string[];
  /** α_t by task_id (1 for records without a task). */
  taskWeights: number[];
  earlyStopping: { patience: number; threshold: number } | null;
}

const SCRIPT = `
import json

import torch
import torch.nn.functional as F
from datasets import load_dataset
from peft import LoraConfig, PromptTuningConfig, get_peft_model
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    Trainer,
)
from trl import ModelConfig, ScriptArguments, SFTConfig, SFTTrainer, TrlParser
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

JOB = json.loads(JOB_JSON)


def blocks_of(model):
    """The model's blocks: its ModuleList of num_hidden_layers modules (GPT-2's transformer.h, Llama's model.layers)."""
    n = model.config.num_hidden_layers
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == n:
            return module
    raise SystemExit(f"train.py: no list of {n} blocks in {type(model).__name__}")


def freeze_partial(model):
    for block in list(blocks_of(model))[: JOB["freezeLayers"]]:
        block.requires_grad_(False)
    if JOB["freezeEmbeddings"]:
        model.get_input_embeddings().requires_grad_(False)
        # GPT-2's learned positions are embeddings too (Llama's rotary ones have no weights).
        positions = getattr(model.base_model, "wpe", None)
        if positions is not None:
            positions.requires_grad_(False)


def peft_config(task_type):
    if JOB["lora"] is not None:
        lora = JOB["lora"]
        return LoraConfig(
            r=lora["r"],
            lora_alpha=lora["alpha"],
            lora_dropout=lora["dropout"],
            target_modules=lora["targets"],
            bias="none",
            task_type=task_type,
            modules_to_save=["score"] if task_type == "SEQ_CLS" else None,
        )
    if JOB["prompt"] is not None:
        prompt = JOB["prompt"]
        text = prompt["initText"]
        return PromptTuningConfig(
            task_type=task_type,
            num_virtual_tokens=prompt["virtualTokens"],
            prompt_tuning_init="TEXT" if text is not None else "RANDOM",
            prompt_tuning_init_text=text,
            tokenizer_name_or_path=prompt["tokenizer"] if text is not None else None,
        )
    return None


class TaskWeightedSFTTrainer(SFTTrainer):
    """SFTTrainer whose loss is Σ_t α_t·L_t over the tasks of the micro-batch."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The loss is already a mean per micro-batch: the Trainer divides it by the accumulation steps.
        self.model_accepts_loss_kwargs = False

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        if "task_id" not in self._signature_columns:
            self._signature_columns = [*self._signature_columns, "task_id"]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        task_ids = inputs.pop("task_id")
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        logits = outputs.logits[:, :-1, :].float()
        targets = labels[:, 1:].to(logits.device)
        token_loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100, reduction="none")
        token_loss = token_loss.view(targets.shape)
        trained = (targets != -100).float()
        loss = logits.new_zeros(())
        for task_id, alpha in enumerate(JOB["taskWeights"]):
            rows = (task_ids.to(logits.device) == task_id).float().unsqueeze(1) * trained
            count = rows.sum()
            if count > 0:
                loss = loss + alpha * (token_loss * rows).sum() / count
        return (loss, outputs) if return_outputs else loss


def task_collator(pad_token_id):
    base = DataCollatorForLanguageModeling(pad_token_id=pad_token_id)

    def collate(examples):
        batch = base([{k: v for k, v in e.items() if k != "task_id"} for e in examples])
        batch["task_id"] = torch.tensor([e["task_id"] for e in examples], dtype=torch.long)
        return batch

    return collate


def main():
    parser = TrlParser((ScriptArguments, SFTConfig, ModelConfig))
    script_args, training_args, model_args = parser.parse_args_and_config(fail_with_unknown_args=False)
    dataset = load_dataset(script_args.dataset_name)
    train = dataset[script_args.dataset_train_split]
    evaluates = training_args.eval_strategy != "no" and script_args.dataset_test_split in dataset
    eval_set = dataset[script_args.dataset_test_split] if evaluates else None
    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    callbacks = []
    if JOB["earlyStopping"] is not None:
        stop = JOB["earlyStopping"]
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=stop["patience"], early_stopping_threshold=stop["threshold"]))

    if JOB["labels"] is not None:
        labels = JOB["labels"]
        model = AutoModelForSequenceClassification.from_pretrained(
            model_args.model_name_or_path,
            num_labels=len(labels),
            id2label={i: label for i, label in enumerate(labels)},
            label2id={label: i for i, label in enumerate(labels)},
        )
        model.config.pad_token_id = tokenizer.pad_token_id
        if JOB["strategy"] == "partial":
            freeze_partial(model)
        config = peft_config("SEQ_CLS")
        if config is not None:
            model = get_peft_model(model, config)
        trainer = Trainer(
            model=model,
            args=training_args,
            train_dataset=train,
            eval_dataset=eval_set,
            data_collator=DataCollatorWithPadding(tokenizer),
            callbacks=callbacks,
        )
    else:
        model = AutoModelForCausalLM.from_pretrained(model_args.model_name_or_path, dtype=model_args.dtype)
        if JOB["strategy"] == "partial":
            freeze_partial(model)
        multi_task = any(task != "" for task in JOB["tasks"])
        trainer_class = TaskWeightedSFTTrainer if multi_task else SFTTrainer
        trainer = trainer_class(
            model=model,
            args=training_args,
            train_dataset=train,
            eval_dataset=eval_set,
            processing_class=tokenizer,
            data_collator=task_collator(tokenizer.pad_token_id) if multi_task else None,
            peft_config=peft_config("CAUSAL_LM"),
            callbacks=callbacks,
        )

    trainer.train()
    if JOB["lora"] is not None and JOB["lora"]["merge"]:
        merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
        if trainer.accelerator.is_main_process:
            merged.save_pretrained(training_args.output_dir)
            tokenizer.save_pretrained(training_args.output_dir)
    else:
        trainer.save_model(training_args.output_dir)
    # trainer_state.json (the log history) beside the model, which finetune import reads.
    trainer.save_state()


if __name__ == "__main__":
    main()
`;

/** The script for `job`: a header naming the run, the job's choices as JSON, then the fixed Python. */
export function trainPy(job: TrainPyJob): string {
  // A raw Python string cannot end in a backslash or hold ''' : JSON.stringify escapes backslashes, and the
  // quote is escaped so the literal always closes where it should.
  const json = JSON.stringify(job, null, 1).replace(/'''/g, '\\u0027\\u0027\\u0027');
  return `"""Cluster job for Fine-Tune Studio run ${job.run.replace(/"""|\\/g, '_')}: what TRL's command line cannot express.

Generated by \`finetune export --to trl\` and launched by launch.sh (accelerate launch train.py --config
sft_config.yaml). JOB holds the run's choices; the code below is the same for every exported run.
"""
JOB_JSON = r'''${json}'''
${SCRIPT}`;
}
