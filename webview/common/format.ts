// Number formatting shared by the training panel and the compare view. Pure: unit-tested in node.

/** 1234567 -> "1,234,567" (the trainer's and PEFT's style, whatever the locale). */
export function withCommas(n: number): string {
  if (!Number.isFinite(n)) return '—';
  const sign = n < 0 ? '-' : '';
  const [int, frac] = Math.abs(n).toString().split('.');
  return sign + int.replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (frac ? '.' + frac : '');
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** Bytes in binary units with three significant digits: 1536 -> "1.50 KiB". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '—';
  let unit = 0;
  let v = bytes;
  while (v >= 1024 && unit < BYTE_UNITS.length - 1) {
    v /= 1024;
    unit++;
  }
  return unit === 0 ? `${v} B` : `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${BYTE_UNITS[unit]}`;
}

/** Seconds as "42s", "3m 05s", "2h 03m", "1d 4h". */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** A loss or other metric: four significant digits, no exponent for ordinary values. */
export function formatMetric(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '—';
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e6)) return v.toExponential(3);
  return Number(v.toPrecision(4)).toString();
}

/** Throughput: "12.3k tok/s". */
export function formatRate(tokensPerSec: number | undefined): string {
  if (tokensPerSec === undefined || !Number.isFinite(tokensPerSec)) return '—';
  if (tokensPerSec >= 1e6) return `${(tokensPerSec / 1e6).toFixed(2)}M tok/s`;
  if (tokensPerSec >= 1e4) return `${(tokensPerSec / 1e3).toFixed(1)}k tok/s`;
  return `${Math.round(tokensPerSec)} tok/s`;
}

/** A short count: 124734720 -> "124.7M". */
export function formatShortCount(n: number): string {
  if (!Number.isFinite(n)) return '—';
  const a = Math.abs(n);
  const short = (v: number, digits: number) => v.toFixed(digits).replace(/\.0+$/, '');
  if (a >= 1e9) return `${short(n / 1e9, 2)}B`;
  if (a >= 1e6) return `${short(n / 1e6, 1)}M`;
  if (a >= 1e3) return `${short(n / 1e3, 1)}k`;
  return String(Number(n.toPrecision(6)));
}

/** Any config value as one line of text. */
export function formatConfigValue(v: unknown): string {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}
