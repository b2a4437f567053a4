// Writes trainer/run.schema.json, run.json's JSON Schema, from the option table (protocol/options.ts), in
// Biome's layout. The file is committed (the manifest's jsonValidation serves its copy in dist/schemas/);
// test/unit/option-table.test.ts fails while it differs from the table, naming this command:
//   node --import tsx scripts/run-schema.mjs
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runJsonSchema } from '../protocol/options.ts';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const file = path.join(root, 'trainer', 'run.schema.json');
fs.writeFileSync(file, JSON.stringify(runJsonSchema(), null, 2) + '\n');
execFileSync(path.join(root, 'node_modules', '.bin', 'biome'), ['format', '--write', file], { stdio: 'inherit' });
console.log(`wrote ${path.relative(root, file)}`);
