#!/usr/bin/env python3
"""The PyTorch side of chat evaluation: transformers' causal-LM loss over the labels of chat records, on
the Llama / Qwen2 / Qwen3 reference of llama_ref.py (the fixture: test/fixtures/chat-eval/make.sh).

The records are `finetune preview --json` output, {records: [{line, text, ids, labels}]}, labels in
Hugging Face's convention (the id where the token is trained, -100 where not).

  check MODEL_DIR DATA_JSONL PREVIEW_JSON
      An independent check of the preview, without the project's code: the ids decode (byte-level BPE
      of MODEL_DIR/tokenizer.json) to the conversation as Python's jinja2 renders the model's chat
      template the way apply_chat_template sets it up (test/fixtures/chat/make_fixtures.py), a prefix of
      it when the record was cut to the model's context; and the trained tokens are exactly those inside
      an assistant turn, from the end of its header `<|im_start|>assistant\\n` to the end of its
      `<|im_end|>` (ChatML templates: Qwen's, chatml).
  eval MODEL_DIR PREVIEW_JSON -> {loss, tokens, examples}
      transformers' ForCausalLMLoss (labels padded with -100 by one and shifted left, so the logit at t
      is scored against label t+1; cross entropy with ignore_index=-100) summed over every record and
      divided by the trained tokens of all of them: the loss of one batch holding every record with
      num_items_in_batch = its trained tokens, which is how trainer/evaluate.ts weights records (by
      their tokens, so batching cannot change it). A record with no trained token adds nothing and is
      not counted in `examples`, as the trainer leaves it out.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'test', 'fixtures', 'chat'))
from llama_ref import load_model  # noqa: E402

IGNORE_INDEX = -100
ASSISTANT_HEADER = b'<|im_start|>assistant\n'
END_OF_TURN = b'<|im_end|>'


def for_causal_lm_loss_sum(logits, labels):
    """transformers.loss.loss_utils.ForCausalLMLoss with reduction 'sum' (the division comes later)."""
    labels = F.pad(labels, (0, 1), value=IGNORE_INDEX)
    shift = labels[..., 1:].contiguous()
    return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), shift.view(-1), ignore_index=IGNORE_INDEX, reduction='sum')


def trained_count(labels):
    """Labels the shifted loss scores: every one but the first (no logit predicts it)."""
    return sum(1 for x in labels[1:] if x != IGNORE_INDEX)


def cmd_eval(model_dir, preview_file):
    model = load_model(model_dir)
    records = [r for r in json.load(open(preview_file, encoding='utf-8'))['records'] if 'ids' in r]
    total, tokens, examples = 0.0, 0, 0
    with torch.no_grad():
        for r in records:
            n = trained_count(r['labels'])
            if n == 0:
                continue
            logits = model(torch.tensor([r['ids']]))
            total += for_causal_lm_loss_sum(logits, torch.tensor([r['labels']])).item()
            tokens += n
            examples += 1
    print(json.dumps({'loss': total / tokens, 'tokens': tokens, 'examples': examples}))


def bytes_to_unicode():
    """GPT-2's byte <-> printable character table, which byte-level BPE vocabularies are written in."""
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def token_bytes(model_dir):
    """id -> the bytes it stands for: added tokens are their text, the others their byte-level spelling."""
    tj = json.load(open(os.path.join(model_dir, 'tokenizer.json'), encoding='utf-8'))
    byte_of = {c: b for b, c in bytes_to_unicode().items()}
    out = {i: bytes(byte_of[c] for c in t) for t, i in tj['model']['vocab'].items()}
    for t in tj['added_tokens']:
        out[t['id']] = t['content'].encode('utf-8')
    return out


def render(model_dir, messages):
    from make_fixtures import environment, special_tokens_map  # transformers' jinja2 set-up

    config = json.load(open(os.path.join(model_dir, 'tokenizer_config.json'), encoding='utf-8'))
    jinja_file = os.path.join(model_dir, 'chat_template.jinja')
    source = open(jinja_file, encoding='utf-8').read() if os.path.exists(jinja_file) else config['chat_template']
    template = environment().from_string(source)
    return template.render(messages=messages, tools=None, documents=None, add_generation_prompt=False, **special_tokens_map(config))


def assistant_spans(text):
    """Byte ranges [start, end) of each assistant turn's trained part: after its header through its <|im_end|>."""
    spans, at = [], 0
    while True:
        h = text.find(ASSISTANT_HEADER, at)
        if h < 0:
            return spans
        start = h + len(ASSISTANT_HEADER)
        e = text.find(END_OF_TURN, start)
        end = len(text) if e < 0 else e + len(END_OF_TURN)
        spans.append((start, end))
        at = end


def cmd_check(model_dir, data_file, preview_file):
    pieces = token_bytes(model_dir)
    records = json.load(open(preview_file, encoding='utf-8'))['records']
    lines = open(data_file, encoding='utf-8').read().split('\n')  # preview's `line` is 1-based in the file
    failures = 0
    for r in records:
        if 'ids' not in r:
            continue
        rendered = render(model_dir, json.loads(lines[r['line'] - 1])['messages']).encode('utf-8')
        decoded = [pieces[i] for i in r['ids']]
        text = b''.join(decoded)
        problems = []
        if not rendered.startswith(text):
            problems.append('the ids do not decode to (a prefix of) the jinja2 render')
        if len(text) < len(rendered) and len(r['ids']) < 2:
            problems.append('cut to fewer than 2 tokens')
        spans = assistant_spans(rendered)
        at = 0
        for k, (tok, label) in enumerate(zip(decoded, r['labels'])):
            start, end = at, at + len(tok)
            at = end
            inside = any(s <= start and end <= e for s, e in spans)
            straddles = not inside and any(start < e and s < end for s, e in spans)
            if straddles:
                problems.append(f'token {k} ({tok!r}) straddles an assistant turn boundary')
            elif (label != IGNORE_INDEX) != inside or (label != IGNORE_INDEX and label != r['ids'][k]):
                problems.append(f'token {k} ({tok!r}): label {label}, expected {"its id" if inside else IGNORE_INDEX}')
        status = 'ok' if not problems else '; '.join(problems[:3])
        cut = ' (cut)' if len(text) < len(rendered) else ''
        print(f'line {r["line"]}: {len(r["ids"])} tokens, {trained_count(r["labels"])} scored{cut}: {status}')
        failures += bool(problems)
    sys.exit(1 if failures else 0)


def main():
    usage = 'usage: chat_ref.py check MODEL_DIR DATA_JSONL PREVIEW_JSON | eval MODEL_DIR PREVIEW_JSON'
    if len(sys.argv) == 5 and sys.argv[1] == 'check':
        cmd_check(*sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == 'eval':
        cmd_eval(*sys.argv[2:])
    else:
        sys.exit(usage)


if __name__ == '__main__':
    main()
