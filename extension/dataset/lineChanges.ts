// Folds a burst of editor content changes into one line replacement, so that a debounced flush can
// call DatasetDocument.replaceLines once with the final text of the touched lines. No `vscode` import:
// the change shape is structural, and the tests drive it with plain objects.

export interface ContentChange {
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
  text: string;
}

/** Replace `deleteCount` lines of the old document at `start` with lines `start .. start+insertCount-1` of the new one. */
export interface LineReplacement {
  start: number;
  deleteCount: number;
  insertCount: number;
}

function newlineCount(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/**
 * Tracks one dirty block of lines: `[origStart, origEnd)` in the document as it was when tracking
 * began, which is `[curStart, curEnd)` in the document now. Changes are applied in the order VS Code
 * reports them (each range refers to the document after the previous changes), and disjoint changes
 * widen the block to cover the clean lines between them: re-reading a few unchanged lines is cheaper
 * than bookkeeping several blocks, and revalidating them gives the same diagnostics.
 */
export class LineChangeAccumulator {
  private origStart = 0;
  private origEnd = 0;
  private curStart = 0;
  private curEnd = 0;
  private dirty = false;

  get isEmpty(): boolean {
    return !this.dirty;
  }

  add(change: ContentChange): void {
    const s = change.range.start.line;
    const e = change.range.end.line + 1; // exclusive: the end line is rewritten too
    const inserted = 1 + newlineCount(change.text);
    if (!this.dirty) {
      this.origStart = this.curStart = s;
      this.origEnd = e;
      this.curEnd = s + inserted;
      this.dirty = true;
      return;
    }
    // Lines before curStart map 1:1 to the original; lines after curEnd are shifted by the block's growth.
    const shift = this.curEnd - this.origEnd;
    const unionStart = Math.min(this.curStart, s);
    const unionEnd = Math.max(this.curEnd, e);
    this.origStart = s < this.curStart ? s : this.origStart;
    this.origEnd = e > this.curEnd ? e - shift : this.origEnd;
    this.curStart = unionStart;
    this.curEnd = unionEnd + (inserted - (e - s));
  }

  addAll(changes: readonly ContentChange[]): void {
    for (const c of changes) this.add(c);
  }

  /** The replacement so far, and reset. Undefined when nothing changed. */
  take(): LineReplacement | undefined {
    if (!this.dirty) return undefined;
    this.dirty = false;
    return { start: this.origStart, deleteCount: this.origEnd - this.origStart, insertCount: this.curEnd - this.curStart };
  }
}
