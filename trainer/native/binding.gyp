{
  "targets": [
    {
      "target_name": "finetune_native",
      "sources": ["matmul.c", "kernels.c"],
      "cflags": ["-O3", "-ffp-contract=off", "-fno-trapping-math"],
      "conditions": [
        ["OS=='mac'", {"libraries": ["-framework Accelerate"]}],
        ["OS=='linux'", {"cflags": ["-fopenmp"], "ldflags": ["-fopenmp"], "libraries": ["-lopenblas"]}]
      ]
    }
  ]
}
