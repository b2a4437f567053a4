// Runs a CLI command in-process and collects what it prints. Only text is captured: node's test runner
// talks to its parent through stdout in binary frames, which must still pass through.
export async function captureStdout(command: () => Promise<number>): Promise<{ code: number; out: string }> {
  const chunks: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk !== 'string') return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
    chunks.push(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    const code = await command();
    return { code, out: chunks.join('') };
  } finally {
    process.stdout.write = write;
  }
}
