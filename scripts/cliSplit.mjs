// The command line as two bundles, so that `finetune validate` starts fast: dist/cli.js holds cli/main.ts,
// cli/usage.ts and validate (~0.5 MB), dist/cli-commands.js every other command (tfjs, the tokenizers:
// ~3.5 MB, which V8 took ~40 ms just to compile at every start). main.ts's `require('./<command>')` of any
// other command becomes `require('./cli-commands.js').load('<command>', usage)`: the commands run with
// cli.js's own usage module (its UsageError is the class main.ts checks with instanceof), handed over
// before the first of them loads. Running from source (tsx) is unchanged: one module graph.
import * as path from 'node:path';

/** The commands that stay in dist/cli.js. */
const IN_CLI = new Set(['validate']);

/**
 * The plugin for the build of dist/cli.js, and the options of the build of dist/cli-commands.js, which
 * must run after it (it bundles the commands that the first build found main.ts requiring).
 */
export function cliSplit(root) {
  const main = path.join(root, 'cli', 'main.ts');
  const usage = path.join(root, 'cli', 'usage.ts');
  const commands = new Set();

  const mainPlugin = {
    name: 'cli-split',
    setup(build) {
      build.onResolve({ filter: /^\.\/\w+$/ }, (args) => {
        const name = args.path.slice(2);
        if (args.kind !== 'require-call' || args.importer !== main || IN_CLI.has(name)) return undefined;
        commands.add(name);
        return { path: name, namespace: 'cli-command' };
      });
      build.onResolve({ filter: /^\.\/cli-commands\.js$/, namespace: 'cli-command' }, (args) => ({ path: args.path, external: true }));
      build.onLoad({ filter: /.*/, namespace: 'cli-command' }, (args) => ({
        contents: `module.exports = require('./cli-commands.js').load(${JSON.stringify(args.path)}, require('./usage'));`,
        resolveDir: path.dirname(main),
        loader: 'js',
      }));
    },
  };

  /** esbuild options (entry, plugin) of dist/cli-commands.js. */
  const commandsBuild = () => ({
    stdin: {
      contents: [
        "const slot = require('cli-usage-slot');",
        `const commands = { ${[...commands].map((c) => `${JSON.stringify(c)}: () => require('./${c}')`).join(', ')} };`,
        'exports.load = (name, usage) => {',
        '  slot.usage ??= usage;',
        '  return commands[name]();',
        '};',
      ].join('\n'),
      resolveDir: path.dirname(main),
      sourcefile: 'cli-commands.js',
      loader: 'js',
    },
    plugins: [
      {
        name: 'cli-commands-usage',
        setup(build) {
          // Every import of cli/usage.ts in the commands reads the module that cli.js handed over.
          build.onResolve({ filter: /(^|\/)usage$/ }, (args) =>
            path.resolve(args.resolveDir, args.path) + '.ts' === usage ? { path: 'usage', namespace: 'cli-usage' } : undefined,
          );
          build.onResolve({ filter: /^cli-usage-slot$/ }, () => ({ path: 'slot', namespace: 'cli-usage' }));
          build.onLoad({ filter: /^usage$/, namespace: 'cli-usage' }, () => ({
            contents: "module.exports = require('cli-usage-slot').usage;",
            loader: 'js',
          }));
          build.onLoad({ filter: /^slot$/, namespace: 'cli-usage' }, () => ({ contents: 'exports.usage = undefined;', loader: 'js' }));
        },
      },
    ],
  });

  return { mainPlugin, commandsBuild };
}
