// The training panel's one-line account of the data, from the start event: how many records and tokens
// were trained, and how many records were left out or cut and why. Pure (node-tested); the panel puts
// it in the DOM as text.
import type { DatasetSummary } from '../../protocol/trainer';
import { withCommas } from '../common/format';

const count = (n: number, one: string, many: string) => `${withCommas(n)} ${n === 1 ? one : many}`;

/**
 * "1,204 training records · 98,112 tokens (41,220 trained) · 3 skipped: no trained tokens after
 * truncation (lines 17, 40, 311) · 12 truncated (2 lose trained tokens)". A run written before the
 * preparation counts existed shows only what its start event has.
 */
export function dataSummaryLine(d: DatasetSummary): string {
  const parts = [count(d.train, 'training record', 'training records')];
  parts.push(`${count(d.trainTokens, 'token', 'tokens')}${d.trainLossTokens !== undefined ? ` (${withCommas(d.trainLossTokens)} trained)` : ''}`);
  if (d.eval > 0) parts.push(count(d.eval, 'eval record', 'eval records'));
  if (d.noTrainedToken) {
    const lines = d.noTrainedTokenLines ?? [];
    const more = d.noTrainedToken > lines.length && lines.length > 0 ? ', …' : '';
    const where = lines.length > 0 ? ` (${lines.length === 1 ? 'line' : 'lines'} ${lines.map(withCommas).join(', ')}${more})` : '';
    parts.push(`${withCommas(d.noTrainedToken)} skipped: no trained tokens after truncation${where}`);
  }
  if (d.skipped > 0) parts.push(`${withCommas(d.skipped)} invalid skipped`);
  if (d.truncated) parts.push(`${withCommas(d.truncated)} truncated${d.targetTruncated ? ` (${withCommas(d.targetTruncated)} lose trained tokens)` : ''}`);
  return parts.join(' · ');
}
