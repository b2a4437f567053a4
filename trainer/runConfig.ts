// A run's settings on the Node side: the one flag parser of the commands whose flags come from the option
// table (protocol/options.ts: `finetune train`, the trainer child's argv, `params`, `bench`), reading a
// run.json (`--config`, `--resume`), the defaults and cross-field checks that make a complete TrainConfig,
// and the run.json a run stores. The CLI, the trainer child and the extension resolve settings here only.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { MAX_CONFIG_BYTES, NotRegularFileError, readRegularFileSync } from '../language/regularFile';
import {
  checkOwners,
  coerceOption,
  type CommandName,
  flagOf,
  nameOfFlag,
  type OptionSpec,
  optionDefaults,
  optionSpec,
  optionSpecs,
  presetTrainDefaults,
  strategySpec,
  TRAIN_DEFAULTS,
  TrainConfigError,
} from '../protocol/options';
import type { Strategy, TrainConfig } from '../protocol/trainer';
import { runPaths } from './runLayout';

/**
 * `command`'s flags -> the camelCase settings given explicitly, each checked against its declaration (no
 * defaults applied). `extra` are the command's own flags (`params --json`, `bench --layers`), declared and
 * checked the same way. Unknown flags, missing values and positionals are TrainConfigErrors.
 */
export function parseCommandFlags(command: CommandName, args: string[], extra: readonly OptionSpec[] = []): Record<string, unknown> {
  const specs = new Map<string, OptionSpec>();
  for (const spec of [...optionSpecs(command), ...extra]) specs.set(flagOf(spec.name).slice(2), spec);
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const [flag, spec] of specs) options[flag] = { type: spec.kind === 'boolean' ? 'boolean' : 'string' };
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new TrainConfigError((err as Error).message);
  }
  const out: Record<string, unknown> = {};
  for (const [flag, value] of Object.entries(values)) {
    const spec = specs.get(flag)!;
    out[nameOfFlag(flag)] = coerceOption(spec, value, 'flag');
  }
  return out;
}

/** `train`'s flags -> the settings given explicitly (no defaults applied); `config` is the --config file. */
export function parseTrainFlags(args: string[]): Partial<TrainConfig> & { config?: string } {
  return parseCommandFlags('train', args) as Partial<TrainConfig> & { config?: string };
}

/** Reads `run.json` (or any config file of that shape): unknown keys and bad values are errors. */
export function readConfigFile(file: string): Partial<TrainConfig> {
  let text: string;
  try {
    // Refuses a FIFO or device (a synchronous read of one would block, deaf to Ctrl-C) and absurd sizes.
    text = readRegularFileSync(file, { what: 'config', maxBytes: MAX_CONFIG_BYTES }).toString('utf8');
  } catch (err) {
    if (err instanceof NotRegularFileError) throw new TrainConfigError(err.message);
    throw new TrainConfigError(`cannot read config ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new TrainConfigError(`config ${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new TrainConfigError(`config ${file} must hold a JSON object`);
  const out: Record<string, unknown> = {};
  // Relative paths in run.json are relative to the file, so a run folder can move.
  const base = path.dirname(path.resolve(file));
  for (const [key, value] of Object.entries(json)) {
    if (key === '$schema') continue;
    // A Map lookup: `constructor` or `__proto__` are unknown settings, not Object.prototype's members.
    const spec = optionSpec(key);
    if (!spec || spec.runJson === false) throw new TrainConfigError(`config ${file}: unknown setting "${key}"`);
    let v = coerceOption(spec, value, 'json');
    // `model` may be a preset or repo id: only a ./ or ../ path is one relative to the file.
    if (typeof v === 'string' && !path.isAbsolute(v) && (spec.path === 'always' || (spec.path === 'dotted' && (v.startsWith('./') || v.startsWith('../')))))
      v = path.resolve(base, v);
    out[key] = v;
  }
  return out as Partial<TrainConfig>;
}

/** Defaults + cross-field checks; the result is complete and consistent. */
export function resolveTrainConfig(given: Partial<TrainConfig>): TrainConfig {
  for (const spec of optionSpecs('train')) {
    if (spec.required?.includes('train') && !(given as Record<string, unknown>)[spec.name]) throw new TrainConfigError(`${flagOf(spec.name)} is required`);
  }
  const strategy = (given.strategy ?? TRAIN_DEFAULTS.strategy) as Strategy;
  const config = {
    ...optionDefaults('train'),
    lr: strategySpec(strategy)?.lr,
    ...presetTrainDefaults(given.model, strategy),
    ...given,
    strategy,
  } as TrainConfig;
  checkOwners(given, config as unknown as Record<string, unknown>, 'differs');
  if (config.evalData !== undefined && given.evalFraction !== undefined && given.evalFraction > 0) {
    throw new TrainConfigError('give either --eval-data or --eval-fraction, not both');
  }
  if (config.evalData !== undefined) config.evalFraction = 0;
  if (config.earlyStoppingPatience > 0 && config.evalData === undefined && config.evalFraction === 0) {
    throw new TrainConfigError('--early-stopping-patience needs evaluation data (--eval-data or --eval-fraction)');
  }
  if (config.resume !== undefined && path.resolve(config.resume) !== path.resolve(config.out)) {
    throw new TrainConfigError(`--resume continues the run in its own folder; --out (${config.out}) must be that folder (${config.resume})`);
  }
  return config;
}

/**
 * `finetune train` flags (and the child entry's argv) -> a complete TrainConfig. `--config FILE` is
 * read first; flags given on the command line win over its settings.
 */
export function parseTrainArgs(args: string[]): TrainConfig {
  const { config: file, ...flags } = parseTrainFlags(args);
  if (flags.resume !== undefined) {
    // `--resume DIR` continues the run in DIR with its own run.json; flags given with it still win.
    if (file) throw new TrainConfigError("--resume reads the run folder's own run.json; it cannot be combined with --config");
    const dir = path.resolve(flags.resume);
    const { runJson } = runPaths(dir);
    if (!fs.existsSync(runJson)) throw new TrainConfigError(`--resume ${flags.resume}: no run.json in ${dir} (not a run folder)`);
    const saved = readConfigFile(runJson);
    return resolveTrainConfig({ ...saved, ...flags, out: flags.out ?? dir, resume: dir });
  }
  const fromFile = file ? readConfigFile(file) : {};
  return resolveTrainConfig({ ...fromFile, ...flags });
}

/** The settings as `run.json` stores them: absolute paths, no undefined keys. */
export function runJsonOf(config: TrainConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    // `resume` is how a run was started, not a setting of the run.
    if (value === undefined || key === 'resume') continue;
    out[key] = optionSpec(key)?.path === 'always' ? path.resolve(value as string) : value;
  }
  return out;
}

/**
 * The settings of a command other than train (`params`, `bench`) from its flags: the table's defaults
 * under the flags given, with any flag of a strategy or head the command was not asked for refused.
 * The command's own flags (`extra`) come back in `own`.
 */
export function parseCommandSettings(
  command: CommandName,
  args: string[],
  extra: readonly OptionSpec[] = [],
): { given: Record<string, unknown>; settings: Record<string, unknown>; own: Record<string, unknown> } {
  const parsed = parseCommandFlags(command, args, extra);
  const own: Record<string, unknown> = {};
  const given: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(parsed)) {
    if (extra.some((e) => e.name === name)) own[name] = value;
    else given[name] = value;
  }
  for (const spec of [...optionSpecs(command), ...extra]) {
    if (spec.required?.includes(command) && parsed[spec.name] === undefined) throw new TrainConfigError(`${flagOf(spec.name)} is required`);
  }
  for (const spec of extra) if (own[spec.name] === undefined && spec.default !== undefined) own[spec.name] = spec.default;
  const settings = { ...optionDefaults(command), ...given };
  checkOwners(given, settings, 'given');
  return { given, settings, own };
}
