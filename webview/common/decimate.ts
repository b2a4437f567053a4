// Min/max decimation of aligned chart data: with far more points than pixels, each bucket of
// consecutive rows becomes two rows (its first and last x) carrying each series' minimum and maximum in
// the order they occur. The drawn lines look the same at that width, and a redraw of a 100,000-step run
// costs a few milliseconds instead of a few hundred. Pure: unit-tested in node.
export type Series = ArrayLike<number | null>;

/** Returns `data` itself when it has at most `4 * buckets` rows. */
export function decimateAligned(data: readonly Series[], buckets: number): Series[] {
  const x = data[0];
  const n = x?.length ?? 0;
  const b = Math.max(1, Math.floor(buckets));
  if (n <= 4 * b) return data as Series[];
  const outX = new Float64Array(2 * b);
  const out: (number | null)[][] = data.slice(1).map(() => new Array<number | null>(2 * b).fill(null));
  for (let k = 0; k < b; k++) {
    const i0 = Math.floor((k * n) / b);
    const i1 = Math.floor(((k + 1) * n) / b);
    outX[2 * k] = x[i0] as number;
    outX[2 * k + 1] = x[i1 - 1] as number;
    for (let s = 1; s < data.length; s++) {
      const ys = data[s];
      let min = Infinity;
      let max = -Infinity;
      let minAt = -1;
      let maxAt = -1;
      for (let i = i0; i < i1; i++) {
        const v = ys[i];
        if (v === null || v === undefined || Number.isNaN(v)) continue;
        if (v < min) {
          min = v;
          minAt = i;
        }
        if (v > max) {
          max = v;
          maxAt = i;
        }
      }
      if (minAt < 0) continue;
      const o = out[s - 1];
      if (minAt === maxAt) {
        o[2 * k] = min;
      } else if (minAt < maxAt) {
        o[2 * k] = min;
        o[2 * k + 1] = max;
      } else {
        o[2 * k] = max;
        o[2 * k + 1] = min;
      }
    }
  }
  return [outX, ...out];
}
