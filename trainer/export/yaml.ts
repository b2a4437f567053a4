// The YAML the exported job's config files are written in: block mappings (one level of nesting) whose
// values are flow scalars and flow lists. Strings are JSON strings (valid YAML double-quoted scalars), and
// numbers are spelled so that PyYAML, which TRL and Accelerate read the files with, reads the type we
// mean: PyYAML follows YAML 1.1, where `2e-05` is a string and a float needs a dot and a signed exponent.

export type YamlScalar = string | number | boolean | null;
export type YamlValue = YamlScalar | readonly YamlScalar[] | { readonly [key: string]: YamlScalar | readonly YamlScalar[] };

/** A number as YAML 1.1 reads it back: integers as they are, other floats with a dot and `e±NN`. */
export function yamlNumber(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`cannot write ${n} to YAML`);
  const plain = String(n);
  if (!plain.includes('e')) return plain;
  const [mantissa, exponent] = n.toExponential().split('e');
  const digits = mantissa.includes('.') ? mantissa : `${mantissa}.0`;
  const exp = Number(exponent);
  return `${digits}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
}

function scalar(v: YamlScalar): string {
  if (v === null) return 'null';
  if (typeof v === 'number') return yamlNumber(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return JSON.stringify(v);
}

function flow(v: YamlScalar | readonly YamlScalar[]): string {
  return Array.isArray(v) ? `[${v.map(scalar).join(', ')}]` : scalar(v as YamlScalar);
}

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A mapping as block YAML; `comments` go first, as `#` lines. Keys must be plain identifiers. */
export function toYaml(map: Readonly<Record<string, YamlValue>>, comments: readonly string[] = []): string {
  const lines = comments.map((c) => `# ${c}`.trimEnd());
  for (const [key, value] of Object.entries(map)) {
    if (!KEY.test(key)) throw new Error(`YAML key '${key}' is not an identifier`);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      lines.push(`${key}:`);
      for (const [k, v] of Object.entries(value as Record<string, YamlScalar | readonly YamlScalar[]>)) {
        if (!KEY.test(k)) throw new Error(`YAML key '${k}' is not an identifier`);
        lines.push(`  ${k}: ${flow(v)}`);
      }
    } else lines.push(`${key}: ${flow(value as YamlScalar | readonly YamlScalar[])}`);
  }
  return lines.join('\n') + '\n';
}
