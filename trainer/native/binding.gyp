{
  "targets": [
    {
      "target_name": "finetune_matmul",
      "sources": ["matmul.c"],
      "cflags": ["-O3"],
      "conditions": [
        ["OS=='mac'", {"libraries": ["-framework Accelerate"]}],
        ["OS=='linux'", {"libraries": ["-lopenblas"]}]
      ]
    }
  ]
}
