#!/usr/bin/env python3
"""Reference Llama / Qwen2 / Qwen3 in plain PyTorch, written from transformers' modeling_llama.py,
modeling_qwen2.py, modeling_qwen3.py and modeling_rope_utils.py (_compute_llama3_parameters): RMSNorm
in float32, rotary embeddings in the rotate_half layout over head_dim, grouped-query attention with
repeat_kv, the SwiGLU MLP, Qwen2's q/k/v biases, Qwen3's per-head q_norm / k_norm before the rotation,
a tied or untied lm_head. The module tree spells Hugging Face's names, so state_dict() is the
checkpoint. The correctness anchor of the TensorFlow.js families in trainer/models/llama/ (fixtures:
test/fixtures/llama/make.sh). Needs only torch (Debian: python3-torch); see reference/README.md.

  make-model DIR --family llama|qwen2|qwen3 [--layers --hidden --heads --kv-heads --head-dim --intermediate
             --vocab --positions --seed --init-std --dtype F32|F16|BF16 --untied --attention-bias --mlp-bias
             --rope-theta T --llama3 FACTOR,LOW,HIGH,ORIGINAL --rope-form classic|parameters --shards N --qk-norm-gain G]
  logits DIR IDS_JSON       -> {loss, logits_head, logits_sum, logits_abs_mean} for one sequence
  eval DIR RECORDS_JSON     -> {loss, tokens, examples}: token-weighted next-token loss over the records
  lora-eval DIR ADAPTER_DIR RECORDS_JSON
                            -> eval's result with a PEFT LoRA adapter folder applied as PEFT's lora/layer.py
                               Linear does (y = W0 x + b + (lora_alpha / r) * B(A x), dropout off at eval)
  bench --family F [--layers --hidden --heads --kv-heads --head-dim --intermediate --vocab --untied --seq --batch
        --steps --mode full|lora|partial --r --alpha --targets q_proj,v_proj|all-linear --freeze-layers --threads]
                            -> {tokens_per_s, step_s, trainable, total, peak_rss_bytes, ...}: `finetune bench`'s
                               work per step (random tokens; 2 untimed warm-up steps, then --steps timed)
"""
import argparse, json, math, os, sys
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_ref import DT, load_safetensors, save_safetensors  # noqa: E402  (one safetensors codec for both references)

ARCHITECTURES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"}


def rope_parameters(c):
    """The standardized RoPE dict, as RotaryEmbeddingConfigMixin.standardize_rope_params makes it from
    either form: the newer `rope_parameters` object or the classic `rope_theta` + `rope_scaling`."""
    rp = dict(c.get("rope_parameters") or c.get("rope_scaling") or {})
    rp.setdefault("rope_type", rp.get("type", "default"))
    rp.setdefault("rope_theta", c.get("rope_theta", 10000.0))
    if rp["rope_type"] == "llama3":
        rp.setdefault("original_max_position_embeddings", c["max_position_embeddings"])
    if rp["rope_type"] not in ("default", "llama3"):
        raise SystemExit(f"rope_type {rp['rope_type']!r} is not implemented by this reference (default, llama3)")
    return rp


def head_dim_of(c):
    return c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]


def inv_freq_of(c):
    """_compute_default_rope_parameters, then _compute_llama3_parameters for rope_type llama3."""
    rp, dim = rope_parameters(c), head_dim_of(c)
    inv_freq = 1.0 / (rp["rope_theta"] ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    if rp["rope_type"] != "llama3":
        return inv_freq
    factor, low, high = rp["factor"], rp["low_freq_factor"], rp["high_freq_factor"]
    old_context_len = rp["original_max_position_embeddings"]
    low_freq_wavelen, high_freq_wavelen = old_context_len / low, old_context_len / high
    wavelen = 2 * math.pi / inv_freq
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_context_len / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * inv_freq_llama / factor + smooth * inv_freq_llama
    is_medium = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium, smoothed, inv_freq_llama)


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        h = x.to(torch.float32)
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def repeat_kv(x, n_rep):
    b, kv, t, d = x.shape
    return x if n_rep == 1 else x[:, :, None].expand(b, kv, n_rep, t, d).reshape(b, kv * n_rep, t, d)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        e, h, kv, d = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"], head_dim_of(c)
        family = c["model_type"]
        qkv_bias = True if family == "qwen2" else c.get("attention_bias", False)
        o_bias = False if family == "qwen2" else c.get("attention_bias", False)
        self.h, self.kv, self.d = h, kv, d
        self.q_proj = nn.Linear(e, h * d, bias=qkv_bias)
        self.k_proj = nn.Linear(e, kv * d, bias=qkv_bias)
        self.v_proj = nn.Linear(e, kv * d, bias=qkv_bias)
        self.o_proj = nn.Linear(h * d, e, bias=o_bias)
        if family == "qwen3":  # per head, over head_dim, before the rotation
            self.q_norm = RMSNorm(d, c["rms_norm_eps"])
            self.k_norm = RMSNorm(d, c["rms_norm_eps"])
        self.qk_norm = family == "qwen3"

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        shape = (b, t, -1, self.d)
        q, k, v = self.q_proj(x).view(shape), self.k_proj(x).view(shape), self.v_proj(x).view(shape)
        if self.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = repeat_kv(k, self.h // self.kv), repeat_kv(v, self.h // self.kv)
        att = torch.matmul(q, k.transpose(2, 3)) * self.d**-0.5 + mask
        att = F.softmax(att, dim=-1, dtype=torch.float32).to(q.dtype)
        return self.o_proj(torch.matmul(att, v).transpose(1, 2).reshape(b, t, -1))


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        e, i = c["hidden_size"], c["intermediate_size"]
        bias = c.get("mlp_bias", False) if c["model_type"] == "llama" else False
        self.gate_proj, self.up_proj = nn.Linear(e, i, bias=bias), nn.Linear(e, i, bias=bias)
        self.down_proj = nn.Linear(i, e, bias=bias)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self_attn, self.mlp = Attention(c), MLP(c)
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList([DecoderLayer(c) for _ in range(c["num_hidden_layers"])])
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])


class CausalLM(nn.Module):
    """LlamaForCausalLM / Qwen2ForCausalLM / Qwen3ForCausalLM: `model.*` and `lm_head` as transformers names them."""

    def __init__(self, c, init_std=0.02, qk_norm_gain=1.0):
        super().__init__()
        self.c = c
        self.model = Decoder(c)
        self.tied = c.get("tie_word_embeddings", True)
        if not self.tied:
            self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)
        self.register_buffer("inv_freq", inv_freq_of(c), persistent=False)
        for n, p in self.named_parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, std=init_std)
            elif n.endswith("norm.weight"):  # gains around 1, not exactly 1, so that every norm weight matters
                # Qwen3's q/k norms fix |q| and |k|, so their gains alone set how peaked attention is.
                mean = qk_norm_gain if n.endswith(("q_norm.weight", "k_norm.weight")) else 1.0
                nn.init.normal_(p, mean=mean, std=init_std if init_std > 0.02 else 0.0)
            else:
                nn.init.normal_(p, std=init_std)

    def forward(self, ids):
        b, t = ids.shape
        x = self.model.embed_tokens(ids)
        # LlamaRotaryEmbedding.forward: positions 0..T-1, float32, cat(freqs, freqs).
        freqs = torch.outer(torch.arange(t, dtype=torch.float32), self.inv_freq.float())
        emb = torch.cat((freqs, freqs), dim=-1)[None]
        cos, sin = emb.cos(), emb.sin()
        mask = torch.full((t, t), torch.finfo(torch.float32).min).triu(1)[None, None]
        for layer in self.model.layers:
            x = layer(x, cos, sin, mask)
        h = self.model.norm(x)
        return h @ (self.model.embed_tokens.weight if self.tied else self.lm_head.weight).t()

    def hf_state(self):
        return dict(self.state_dict())


def load_weights(d):
    """model.safetensors, or the shards model.safetensors.index.json lists."""
    index = os.path.join(d, "model.safetensors.index.json")
    if not os.path.exists(index):
        return load_safetensors(os.path.join(d, "model.safetensors"))
    sd = {}
    for shard in sorted(set(json.load(open(index))["weight_map"].values())):
        sd.update(load_safetensors(os.path.join(d, shard)))
    return sd


def load_model(d):
    c = json.load(open(os.path.join(d, "config.json")))
    m = CausalLM(c)
    sd = {k: v.float() for k, v in load_weights(d).items()}
    if m.tied:
        sd.pop("lm_head.weight", None)
    m.load_state_dict(sd, strict=True)
    return m.eval()


def hf_config(a):
    c = {
        "architectures": [ARCHITECTURES[a.family]], "model_type": a.family, "hidden_act": "silu",
        "vocab_size": a.vocab, "hidden_size": a.hidden, "intermediate_size": a.intermediate,
        "num_hidden_layers": a.layers, "num_attention_heads": a.heads, "num_key_value_heads": a.kv_heads,
        "max_position_embeddings": a.positions, "rms_norm_eps": 1e-6 if a.family != "llama" else 1e-5,
        "tie_word_embeddings": not a.untied, "attention_dropout": 0.0, "initializer_range": 0.02,
        "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[a.dtype],
    }
    if a.head_dim:
        c["head_dim"] = a.head_dim
    if a.family != "qwen2":
        c["attention_bias"] = a.attention_bias
    if a.family == "llama":
        c["mlp_bias"] = a.mlp_bias
    else:
        c.update({"use_sliding_window": False, "sliding_window": None, "max_window_layers": a.layers})
    rope = {"rope_type": "default"}
    if a.llama3:
        factor, low, high, original = (float(x) for x in a.llama3.split(","))
        rope = {"rope_type": "llama3", "factor": factor, "low_freq_factor": low, "high_freq_factor": high,
                "original_max_position_embeddings": int(original)}
    if a.rope_form == "parameters":  # transformers >= 4.57 writes one rope_parameters object
        c["rope_parameters"] = {"rope_theta": a.rope_theta, **rope}
    else:
        c["rope_theta"] = a.rope_theta
        c["rope_scaling"] = None if rope["rope_type"] == "default" else rope
    return c


def cmd_make_model(a):
    torch.manual_seed(a.seed)
    c = hf_config(a)
    m = CausalLM(c, a.init_std, a.qk_norm_gain)
    os.makedirs(a.dir, exist_ok=True)
    json.dump(c, open(os.path.join(a.dir, "config.json"), "w"), indent=2)
    st = {k: v.detach().to(DT[a.dtype]) for k, v in m.hf_state().items()}
    if a.shards <= 1:
        save_safetensors(os.path.join(a.dir, "model.safetensors"), st, {"format": "pt"})
    else:  # transformers' sharded layout: model-0000i-of-0000n.safetensors and the index naming each key's file
        keys, weight_map, total = list(st), {}, 0
        per = math.ceil(len(keys) / a.shards)
        for i in range(a.shards):
            name = f"model-{i + 1:05d}-of-{a.shards:05d}.safetensors"
            part = {k: st[k] for k in keys[i * per : (i + 1) * per]}
            save_safetensors(os.path.join(a.dir, name), part, {"format": "pt"})
            for k, v in part.items():
                weight_map[k] = name
                total += v.numel() * v.element_size()
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map},
                  open(os.path.join(a.dir, "model.safetensors.index.json"), "w"), indent=2)
    print(json.dumps({"dir": a.dir, "params": sum(p.numel() for p in m.parameters())}))


def ref_out(m, ids):
    idx = torch.tensor([ids])
    with torch.no_grad():
        logits = m(idx)
    loss = F.cross_entropy(logits[0, :-1], idx[0, 1:]).item()
    return {"loss": loss, "logits_head": logits[0, -1, :8].tolist(), "logits_sum": logits.sum().item(),
            "logits_abs_mean": logits.abs().mean().item()}


def cmd_logits(a):
    print(json.dumps(ref_out(load_model(a.dir), json.loads(a.ids))))


def cmd_eval(a):
    m, records = load_model(a.dir), json.loads(a.records)
    total, tokens = 0.0, 0
    for ids in records:  # one unpadded sequence at a time: the trainer's padded batch must give the same
        total += ref_out(m, ids)["loss"] * (len(ids) - 1)
        tokens += len(ids) - 1
    print(json.dumps({"loss": total / tokens, "tokens": tokens, "examples": len(records)}))


class PeftLoraLinear(nn.Module):
    """PEFT's lora.Linear at eval: base_layer(x) + lora_B(lora_A(x)) * scaling, scaling = lora_alpha / r
    (dropout is the identity in eval mode; no rsLoRA, no DoRA)."""

    def __init__(self, base, a, b, scaling):
        super().__init__()
        self.base_layer, self.scaling = base, scaling
        self.lora_A = nn.Linear(base.in_features, a.shape[0], bias=False)
        self.lora_B = nn.Linear(a.shape[0], base.out_features, bias=False)
        self.lora_A.weight.data.copy_(a)
        self.lora_B.weight.data.copy_(b)

    def forward(self, x):
        return self.base_layer(x) + self.lora_B(self.lora_A(x)) * self.scaling


def apply_peft_lora(m, adapter_dir):
    """Wraps the modules adapter_config.json targets as PEFT's LoraModel does: a list matches a module whose
    name equals a target or ends with '.' + target; 'all-linear' is every nn.Linear but the output head.
    The weights are adapter_model.safetensors' base_model.model.<module>.lora_A/B.weight, every one used."""
    cfg = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
    if cfg.get("peft_type") != "LORA" or cfg.get("use_dora") or cfg.get("use_rslora"):
        raise SystemExit(f"{adapter_dir}: only plain LoRA adapters (peft_type LORA, no DoRA / rsLoRA)")
    targets, r, alpha = cfg["target_modules"], cfg["r"], cfg["lora_alpha"]
    weights = load_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"))
    used = set()

    def wanted(name):
        if targets == "all-linear":
            return name != "lm_head"
        if isinstance(targets, str):  # PEFT: a string other than all-linear is a regex the full name must match
            import re
            return re.fullmatch(targets, name) is not None
        return any(name == t or name.endswith("." + t) for t in targets)

    for name, module in list(m.named_modules()):
        if not isinstance(module, nn.Linear) or not wanted(name):
            continue
        ka, kb = f"base_model.model.{name}.lora_A.weight", f"base_model.model.{name}.lora_B.weight"
        if ka not in weights or kb not in weights:
            raise SystemExit(f"{adapter_dir}: no {ka} / {kb}")
        a, b = weights[ka].float(), weights[kb].float()
        if a.shape != (r, module.in_features) or b.shape != (module.out_features, r):
            raise SystemExit(f"{adapter_dir}: {name}: lora_A {tuple(a.shape)}, lora_B {tuple(b.shape)} for r={r}")
        parent = m.get_submodule(name.rsplit(".", 1)[0])
        setattr(parent, name.rsplit(".", 1)[1], PeftLoraLinear(module, a, b, alpha / r))
        used.update((ka, kb))
    unused = sorted(set(weights) - used)
    if unused:
        raise SystemExit(f"{adapter_dir}: weights for modules the targets do not match: {unused[:3]}")
    return m.eval()


def cmd_lora_eval(a):
    m = apply_peft_lora(load_model(a.dir), a.adapter)
    records = json.loads(a.records)
    total, tokens = 0.0, 0
    for ids in records:
        total += ref_out(m, ids)["loss"] * (len(ids) - 1)
        tokens += len(ids) - 1
    print(json.dumps({"loss": total / tokens, "tokens": tokens, "examples": len(records)}))


def cmd_bench(a):
    """`finetune bench`'s step for the same shape: forward, the mean next-token loss, backward, global
    gradient-norm clipping at 1 and AdamW (weight decay 0.01), on one batch of random tokens."""
    import resource, time
    from types import SimpleNamespace

    torch.manual_seed(0)
    torch.set_num_threads(a.threads or len(os.sched_getaffinity(0)))
    shape = SimpleNamespace(family=a.family, layers=a.layers, hidden=a.hidden, heads=a.heads, kv_heads=a.kv_heads,
                            head_dim=a.head_dim, intermediate=a.intermediate, vocab=a.vocab, positions=max(a.seq, 128),
                            untied=a.untied, attention_bias=False, mlp_bias=False, rope_theta=10000.0, llama3="",
                            rope_form="classic", dtype="F32")
    m = CausalLM(hf_config(shape)).train()
    if a.mode == "lora":
        for p in m.parameters():
            p.requires_grad_(False)
        linears = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        targets = linears if a.targets == "all-linear" else a.targets.split(",")
        unknown = [t for t in targets if t not in linears]
        if unknown:
            raise SystemExit(f"--targets: {', '.join(unknown)} is not a linear of the model ({', '.join(linears)}, or all-linear)")
        for layer in m.model.layers:
            for parent in (layer.self_attn, layer.mlp):
                for name in targets:
                    if hasattr(parent, name):  # A random, B zero, as PEFT starts them; both train
                        base = getattr(parent, name)
                        lora = PeftLoraLinear(base, torch.randn(a.r, base.in_features) * 0.01, torch.zeros(base.out_features, a.r), a.alpha / a.r)
                        setattr(parent, name, lora)
    elif a.mode == "partial":  # the first --freeze-layers layers frozen, the embeddings train (as the trainer's partial)
        for layer in m.model.layers[: a.freeze_layers]:
            for p in layer.parameters():
                p.requires_grad_(False)
    elif a.mode != "full":
        raise SystemExit(f"--mode {a.mode!r}: full, lora or partial")
    params = [p for p in m.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)
    x = torch.randint(0, a.vocab, (a.batch, a.seq + 1))

    def step():
        logits = m(x[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, a.vocab), x[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()

    for _ in range(2):  # warm-up steps, not timed
        step()
    t = time.perf_counter()
    for _ in range(a.steps):
        step()
    dt = time.perf_counter() - t
    print(json.dumps({"family": a.family, "mode": a.mode, "tokens_per_s": a.batch * a.seq * a.steps / dt, "step_s": dt / a.steps,
                      "trainable": sum(p.numel() for p in params), "total": sum(p.numel() for p in m.parameters()),
                      # ru_maxrss is in KiB on Linux
                      "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "threads": torch.get_num_threads(), "torch": torch.__version__}))


def add_bench_parser(sub):
    b = sub.add_parser("bench")
    b.add_argument("--family", choices=list(ARCHITECTURES), default="llama")
    b.add_argument("--layers", type=int, default=4); b.add_argument("--hidden", type=int, default=256)
    b.add_argument("--heads", type=int, default=4); b.add_argument("--kv-heads", type=int, default=2)
    b.add_argument("--head-dim", type=int, default=0, help="0: hidden / heads")
    b.add_argument("--intermediate", type=int, default=768); b.add_argument("--vocab", type=int, default=4096)
    b.add_argument("--untied", action="store_true")
    b.add_argument("--seq", type=int, default=128); b.add_argument("--batch", type=int, default=8)
    b.add_argument("--steps", type=int, default=5); b.add_argument("--mode", default="full")
    b.add_argument("--r", type=int, default=8); b.add_argument("--alpha", type=float, default=8.0)
    b.add_argument("--targets", default="q_proj,v_proj", help="PEFT's default for the Llama family")
    b.add_argument("--freeze-layers", type=int, default=2)
    b.add_argument("--threads", type=int, default=0, help="0: every core this process may use")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    mm = sub.add_parser("make-model"); mm.add_argument("dir")
    mm.add_argument("--family", choices=list(ARCHITECTURES), default="llama")
    mm.add_argument("--layers", type=int, default=2); mm.add_argument("--hidden", type=int, default=64)
    mm.add_argument("--heads", type=int, default=4); mm.add_argument("--kv-heads", type=int, default=2)
    mm.add_argument("--head-dim", type=int, default=0, help="0: hidden / heads, and config.json has no head_dim")
    mm.add_argument("--intermediate", type=int, default=128); mm.add_argument("--vocab", type=int, default=256)
    mm.add_argument("--positions", type=int, default=64); mm.add_argument("--seed", type=int, default=0)
    mm.add_argument("--init-std", type=float, default=0.02, help="larger values give peaked, component-sensitive logits")
    mm.add_argument("--dtype", choices=list(DT), default="F32"); mm.add_argument("--untied", action="store_true")
    mm.add_argument("--attention-bias", action="store_true"); mm.add_argument("--mlp-bias", action="store_true")
    mm.add_argument("--rope-theta", type=float, default=10000.0)
    mm.add_argument("--llama3", default="", help="FACTOR,LOW_FREQ_FACTOR,HIGH_FREQ_FACTOR,ORIGINAL_MAX_POSITIONS")
    mm.add_argument("--rope-form", choices=["classic", "parameters"], default="classic")
    mm.add_argument("--shards", type=int, default=1)
    mm.add_argument("--qk-norm-gain", type=float, default=1.0, help="mean of Qwen3's q_norm / k_norm gains (larger: more peaked attention)")
    lg = sub.add_parser("logits"); lg.add_argument("dir"); lg.add_argument("ids")
    ev = sub.add_parser("eval"); ev.add_argument("dir"); ev.add_argument("records")
    le = sub.add_parser("lora-eval"); le.add_argument("dir"); le.add_argument("adapter"); le.add_argument("records")
    add_bench_parser(sub)
    a = p.parse_args()
    {"make-model": cmd_make_model, "logits": cmd_logits, "eval": cmd_eval, "lora-eval": cmd_lora_eval, "bench": cmd_bench}[a.cmd](a)


if __name__ == "__main__":
    main()
