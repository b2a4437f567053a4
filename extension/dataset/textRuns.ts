// Runs of trained and untrained text (a record as its model sees it), and how they are shortened for
// display. Its own module so that the hover's Markdown needs no tokenizer. No `vscode` import.

export interface TextRun {
  text: string;
  trained: boolean;
}

/**
 * At most `limit` characters of the runs: all of them, or the head and the tail (where the trained
 * turns usually are) with a run in between that says how much was left out. A cut run keeps its kind.
 */
export function cutRuns(runs: readonly TextRun[], limit: number): TextRun[] {
  const total = runs.reduce((n, r) => n + r.text.length, 0);
  if (total <= limit) return [...runs];
  const headLimit = Math.floor(limit / 4);
  const tailLimit = limit - headLimit;
  const safeEnd = (s: string, end: number) => (end > 0 && end < s.length && /[\uD800-\uDBFF]/.test(s[end - 1]) ? end - 1 : end);
  const head: TextRun[] = [];
  let n = 0;
  for (const r of runs) {
    if (n >= headLimit) break;
    const take = safeEnd(r.text, Math.min(r.text.length, headLimit - n));
    head.push({ text: r.text.slice(0, take), trained: r.trained });
    n += take;
  }
  const tail: TextRun[] = [];
  n = 0;
  for (let i = runs.length - 1; i >= 0 && n < tailLimit; i--) {
    const r = runs[i];
    let from = Math.max(0, r.text.length - (tailLimit - n));
    if (from > 0 && /[\uDC00-\uDFFF]/.test(r.text[from])) from++;
    tail.unshift({ text: r.text.slice(from), trained: r.trained });
    n += r.text.length - from;
  }
  const skipped = total - head.reduce((s, r) => s + r.text.length, 0) - n;
  return [...head, { text: `\n… ${skipped.toLocaleString('en-US')} characters …\n`, trained: false }, ...tail];
}
