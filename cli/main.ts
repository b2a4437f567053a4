// `finetune` command line: one module per subcommand (cli/<name>.ts exporting `run(args)`), loaded on
// demand so that `validate` never pays for TensorFlow.js.
import { usageLine, UsageError } from './usage';

type Command = { run(args: string[]): Promise<number> };

const commands: Record<string, () => Command> = {
  validate: () => require('./validate') as Command,
  params: () => require('./params') as Command,
  train: () => require('./train') as Command,
  eval: () => require('./eval') as Command,
  bench: () => require('./bench') as Command,
  generate: () => require('./generate') as Command,
  preview: () => require('./preview') as Command,
  export: () => require('./export') as Command,
  import: () => require('./import') as Command,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usageLine() + '\n');
    return name ? 0 : 2;
  }
  // Own keys only: `finetune constructor` is an unknown command, not Object.prototype's member.
  const load = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!load) {
    process.stderr.write(`finetune: unknown command '${name}'\n${usageLine()}\n`);
    return 2;
  }
  let command: Command;
  try {
    command = load();
  } catch {
    process.stderr.write(`finetune: '${name}' is not available in this build\n`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`finetune ${name}: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`finetune ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(String(err) + '\n');
    process.exitCode = 1;
  },
);
