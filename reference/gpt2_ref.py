#!/usr/bin/env python3
"""Reference GPT-2 in plain PyTorch, matching Hugging Face GPT2LMHeadModel
(Conv1D weights stored [in, out], gelu_new, LayerNorm eps from config,
tied lm_head) and PEFT's LoRA (W + (alpha/r) * B @ A). The correctness and
speed anchor of Fine-Tune Studio's TensorFlow.js trainer: it writes the
expected numbers under test/fixtures/reference (make.sh there) and is the
PyTorch side of `npm run bench`. Needs only torch (Debian: python3-torch);
see reference/README.md.

  make-model DIR [--layers L --embd E --heads H --vocab V --positions P --seed S --prefix transformer. --dtype F32|F16]
  logits DIR IDS_JSON                 -> prints JSON {loss, logits_head, logits_sum}
  bench  [--layers .. --embd .. --heads .. --vocab .. --seq .. --batch .. --steps .. --mode full|lora|partial --freeze-layers N]
         (2 untimed warm-up steps, then --steps timed; lora = r 8 on c_attn, PEFT's GPT-2 default)
  merge-adapter DIR ADAPTER_DIR IDS_JSON -> logits with a PEFT LoRA adapter merged in
"""
import argparse, json, math, os, resource, struct, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

DT = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
DT_NAME = {v: k for k, v in DT.items()}


def save_safetensors(path, tensors, metadata=None):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        t = t.contiguous()
        b = t.view(torch.uint8).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": DT_NAME[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        dt = DT[info["dtype"]]
        buf = bytearray(data[a:b])
        if dt == torch.bfloat16:
            t = torch.frombuffer(buf, dtype=torch.int16).view(torch.bfloat16)
        else:
            t = torch.frombuffer(buf, dtype=dt)
        out[name] = t.reshape(info["shape"]).clone()
    return out


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        e = c["n_embd"]
        self.nh = c["n_head"]
        eps = c.get("layer_norm_epsilon", 1e-5)
        self.ln_1 = nn.LayerNorm(e, eps=eps)
        self.ln_2 = nn.LayerNorm(e, eps=eps)
        # Conv1D layout: weight [in, out]
        self.c_attn_w = nn.Parameter(torch.empty(e, 3 * e)); self.c_attn_b = nn.Parameter(torch.zeros(3 * e))
        self.c_proj_w = nn.Parameter(torch.empty(e, e)); self.c_proj_b = nn.Parameter(torch.zeros(e))
        self.c_fc_w = nn.Parameter(torch.empty(e, 4 * e)); self.c_fc_b = nn.Parameter(torch.zeros(4 * e))
        self.mlp_proj_w = nn.Parameter(torch.empty(4 * e, e)); self.mlp_proj_b = nn.Parameter(torch.zeros(e))
        self.lora = {}

    def lin(self, x, name, w, b):
        y = x @ w + b
        if name in self.lora:
            A, B, s = self.lora[name]
            y = y + (x @ A.t() @ B.t()) * s
        return y

    def forward(self, x):
        B, T, E = x.shape
        h = self.ln_1(x)
        qkv = self.lin(h, "attn.c_attn", self.c_attn_w, self.c_attn_b)
        q, k, v = qkv.split(E, dim=2)
        hd = E // self.nh
        q = q.view(B, T, self.nh, hd).transpose(1, 2)
        k = k.view(B, T, self.nh, hd).transpose(1, 2)
        v = v.view(B, T, self.nh, hd).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
        mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, E)
        x = x + self.lin(y, "attn.c_proj", self.c_proj_w, self.c_proj_b)
        h = self.ln_2(x)
        h = gelu_new(self.lin(h, "mlp.c_fc", self.c_fc_w, self.c_fc_b))
        return x + self.lin(h, "mlp.c_proj", self.mlp_proj_w, self.mlp_proj_b)


class GPT2(nn.Module):
    NAMES = [("ln_1.weight", "ln_1.weight"), ("ln_1.bias", "ln_1.bias"), ("ln_2.weight", "ln_2.weight"), ("ln_2.bias", "ln_2.bias"),
             ("attn.c_attn.weight", "c_attn_w"), ("attn.c_attn.bias", "c_attn_b"), ("attn.c_proj.weight", "c_proj_w"),
             ("attn.c_proj.bias", "c_proj_b"), ("mlp.c_fc.weight", "c_fc_w"), ("mlp.c_fc.bias", "c_fc_b"),
             ("mlp.c_proj.weight", "mlp_proj_w"), ("mlp.c_proj.bias", "mlp_proj_b")]

    def __init__(self, c, init_std=0.02):
        super().__init__()
        self.c = c
        e = c["n_embd"]
        self.wte = nn.Embedding(c["vocab_size"], e)
        self.wpe = nn.Embedding(c["n_positions"], e)
        self.h = nn.ModuleList([Block(c) for _ in range(c["n_layer"])])
        self.ln_f = nn.LayerNorm(e, eps=c.get("layer_norm_epsilon", 1e-5))
        for n, p in self.named_parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, std=init_std)
            elif n.endswith("weight"):  # LayerNorm gains: around 1, not exactly 1, so every tensor matters
                nn.init.normal_(p, mean=1.0, std=init_std if init_std > 0.02 else 0.0)
            else:
                nn.init.normal_(p, std=init_std)

    def forward(self, idx):
        B, T = idx.shape
        x = self.wte(idx) + self.wpe(torch.arange(T))[None]
        for b in self.h:
            x = b(x)
        return self.ln_f(x) @ self.wte.weight.t()

    def hf_state(self, prefix):
        s = {prefix + "wte.weight": self.wte.weight, prefix + "wpe.weight": self.wpe.weight,
             prefix + "ln_f.weight": self.ln_f.weight, prefix + "ln_f.bias": self.ln_f.bias}
        for i, b in enumerate(self.h):
            for hf, attr in self.NAMES:
                s[f"{prefix}h.{i}.{hf}"] = b.get_parameter(attr) if "." not in attr else b.get_submodule(attr.split(".")[0]).get_parameter(attr.split(".")[1])
        return s

    def load_hf(self, sd):
        sd = {(k[len("transformer."):] if k.startswith("transformer.") else k): v.float() for k, v in sd.items()}
        with torch.no_grad():
            for k, p in self.hf_state("").items():
                p.copy_(sd[k])


def load_model(d):
    c = json.load(open(os.path.join(d, "config.json")))
    m = GPT2(c)
    m.load_hf(load_safetensors(os.path.join(d, "model.safetensors")))
    return m.eval()


def cmd_make_model(a):
    torch.manual_seed(a.seed)
    c = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_layer": a.layers, "n_embd": a.embd, "n_head": a.heads,
         "vocab_size": a.vocab, "n_positions": a.positions, "n_ctx": a.positions, "layer_norm_epsilon": 1e-5,
         "activation_function": "gelu_new", "bos_token_id": a.vocab - 1, "eos_token_id": a.vocab - 1}
    m = GPT2(c, a.init_std)
    os.makedirs(a.dir, exist_ok=True)
    json.dump(c, open(os.path.join(a.dir, "config.json"), "w"), indent=2)
    st = {k: v.detach().to(DT[a.dtype]) for k, v in m.hf_state(a.prefix).items()}
    if a.mask_buffers:  # old hub checkpoints carry the causal-mask buffer per layer
        for i in range(a.layers):
            st[f"{a.prefix}h.{i}.attn.bias"] = torch.tril(torch.ones(a.positions, a.positions)).view(1, 1, a.positions, a.positions).to(DT[a.dtype])
    if a.prefix == "transformer.":
        st["lm_head.weight"] = st["transformer.wte.weight"].clone()
    save_safetensors(os.path.join(a.dir, "model.safetensors"), st, {"format": "pt"})
    print(json.dumps({"dir": a.dir, "params": sum(p.numel() for p in m.parameters())}))


def ref_out(m, ids):
    idx = torch.tensor([ids])
    with torch.no_grad():
        logits = m(idx)
    loss = F.cross_entropy(logits[0, :-1], idx[0, 1:]).item()
    return {"loss": loss, "logits_head": logits[0, -1, :8].tolist(), "logits_sum": logits.sum().item(),
            "logits_abs_mean": logits.abs().mean().item()}


def cmd_logits(a):
    m = load_model(a.dir)
    print(json.dumps(ref_out(m, json.loads(a.ids))))


def cmd_merge_adapter(a):
    m = load_model(a.dir)
    cfg = json.load(open(os.path.join(a.adapter, "adapter_config.json")))
    sd = load_safetensors(os.path.join(a.adapter, "adapter_model.safetensors"))
    r, alpha = cfg["r"], cfg["lora_alpha"]
    s = alpha / r
    n = 0
    for k, A in sd.items():
        if ".lora_A." not in k:
            continue
        Bk = k.replace(".lora_A.", ".lora_B.")
        # base_model.model.transformer.h.0.attn.c_attn.lora_A.weight
        i = int(k.split(".h.")[1].split(".")[0])
        mod = ".".join(k.split(".h.")[1].split(".")[1:3])
        m.h[i].lora[mod] = (A.float(), sd[Bk].float(), s)
        n += 1
    out = ref_out(m, json.loads(a.ids))
    out["lora_modules"] = n
    print(json.dumps(out))


def cmd_bench(a):
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    c = {"n_layer": a.layers, "n_embd": a.embd, "n_head": a.heads, "vocab_size": a.vocab, "n_positions": a.positions or max(a.seq, 128),
         "layer_norm_epsilon": 1e-5}
    m = GPT2(c).train()
    if a.mode == "lora":  # PEFT's default for GPT-2: c_attn only; alpha = 2r
        for p in m.parameters():
            p.requires_grad_(False)
        params = []
        for b in m.h:
            for name, (i, o) in {"attn.c_attn": (a.embd, 3 * a.embd)}.items():
                A = nn.Parameter(torch.randn(a.r, i) * 0.01); B = nn.Parameter(torch.zeros(o, a.r))
                b.lora[name] = (A, B, 2.0); params += [A, B]
    elif a.mode in ("partial", "freeze"):  # the first --freeze-layers blocks frozen
        for b in m.h[: a.freeze_layers]:
            for p in b.parameters():
                p.requires_grad_(False)
        params = [p for p in m.parameters() if p.requires_grad]
    else:
        params = list(m.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4)
    x = torch.randint(0, a.vocab, (a.batch, a.seq + 1))

    def step():
        logits = m(x[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, a.vocab), x[:, 1:].reshape(-1))
        opt.zero_grad(); loss.backward(); opt.step()
        return loss.item()

    for _ in range(2):  # warm-up steps, not timed
        step()
    t = time.perf_counter()
    for _ in range(a.steps):
        step()
    dt = time.perf_counter() - t
    ntrain = sum(p.numel() for p in params)
    ntotal = sum(p.numel() for p in m.parameters()) + (ntrain if a.mode == "lora" else 0)
    print(json.dumps({"mode": a.mode, "tokens_per_s": a.batch * a.seq * a.steps / dt, "step_s": dt / a.steps,
                      "trainable": ntrain, "total": ntotal, "threads": torch.get_num_threads(), "torch": torch.__version__,
                      # The whole process's high-water mark, as /usr/bin/time -f %M reports it (Linux: KiB).
                      "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    mm = sub.add_parser("make-model"); mm.add_argument("dir")
    for s in [mm]:
        s.add_argument("--layers", type=int, default=2); s.add_argument("--embd", type=int, default=64)
        s.add_argument("--heads", type=int, default=4); s.add_argument("--vocab", type=int, default=512)
        s.add_argument("--positions", type=int, default=128); s.add_argument("--seed", type=int, default=0)
        s.add_argument("--prefix", default=""); s.add_argument("--dtype", default="F32")
        s.add_argument("--mask-buffers", action="store_true")
        s.add_argument("--init-std", type=float, default=0.02, help="larger values give peaked, component-sensitive logits")
    lg = sub.add_parser("logits"); lg.add_argument("dir"); lg.add_argument("ids")
    ma = sub.add_parser("merge-adapter"); ma.add_argument("dir"); ma.add_argument("adapter"); ma.add_argument("ids")
    b = sub.add_parser("bench")
    b.add_argument("--layers", type=int, default=4); b.add_argument("--embd", type=int, default=256)
    b.add_argument("--heads", type=int, default=4); b.add_argument("--vocab", type=int, default=4096)
    b.add_argument("--seq", type=int, default=128); b.add_argument("--batch", type=int, default=8)
    b.add_argument("--steps", type=int, default=5); b.add_argument("--mode", default="full")
    b.add_argument("--r", type=int, default=8); b.add_argument("--threads", type=int, default=2)
    b.add_argument("--freeze-layers", type=int, default=2)
    b.add_argument("--positions", type=int, default=0, help="position table size; default max(seq, 128) as `finetune bench` builds it")
    a = p.parse_args()
    {"make-model": cmd_make_model, "logits": cmd_logits, "bench": cmd_bench, "merge-adapter": cmd_merge_adapter}[a.cmd](a)


if __name__ == "__main__":
    main()
