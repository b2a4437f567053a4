// The library versions an exported cluster job is written for. The option names in its YAML files were
// read from these versions' sources (test/fixtures/export/trl-keys.json names each file and commit, and a
// test checks every key the exporter writes against it), so requirements.txt pins exactly these.
export const TRL_VERSIONS = {
  trl: '1.9.0',
  accelerate: '1.14.0',
  transformers: '5.0.0',
  peft: '0.20.0',
  // TRL 1.9.0's own floor for datasets (pyproject.toml: JSON columns of mixed types).
  datasets: '4.7.0',
  // TRL 1.9.0's `deepspeed` extra asks for this floor; DeepSpeed is only installed for a ZeRO job.
  deepspeedFloor: '0.14.4',
} as const;
