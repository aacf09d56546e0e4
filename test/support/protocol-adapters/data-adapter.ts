/**
 * On-demand items, each a counter ticking every `<ms>` named in the item (`<kind>_<ms>`), whose
 * field `value` is:
 * - `text_<ms>`: `value=<n>` after a long constant text, TLCP-diff allowed;
 * - `json_<ms>`: a JSON object `{"value":<n>,"text":<a long constant text>}`, JSON Patch allowed;
 * - `plain_<ms>`: the text value of `text_`, no delta allowed;
 * - `burst_<ms>`: `<n>` and the long text, 50 updates at each tick (floods a session with a small
 *   bandwidth), TLCP-diff allowed.
 */
import type { DataAdapter, DiffAlgorithm, ItemListener } from '../../../origin/adapters/adapter.ts';

const ITEM = /^(text|json|plain|burst)_(\d{1,5})$/;
const TEXT = 'the quick brown fox jumps over the lazy dog, again and again, so that a value is long; ';

function valueOf(kind: string, n: number): string {
  if (kind === 'json') return JSON.stringify({ value: n, text: TEXT });
  if (kind === 'burst') return `${n} ${TEXT}`;
  return `${TEXT}value=${n}`;
}

export function createDataAdapter(): Omit<DataAdapter, 'name'> {
  const running = new Map<string, NodeJS.Timeout>();
  return {
    isSnapshotAvailable: () => true,
    diffOrder(item: string): Record<string, readonly DiffAlgorithm[]> | null {
      const kind = ITEM.exec(item)?.[1];
      if (kind === 'text' || kind === 'burst') return { value: ['DIFF_MATCH_PATCH'] };
      // In order: JSON Patch first, TLCP-diff where a patch would not be smaller.
      if (kind === 'json') return { value: ['JSONPATCH', 'DIFF_MATCH_PATCH'] };
      return null;
    },
    subscribe(item: string, listener: ItemListener) {
      const match = ITEM.exec(item);
      if (!match) throw new Error(`no item ${item}`);
      const [, kind, ms] = match;
      let n = 0;
      listener.update({ value: valueOf(kind, n) }, true);
      listener.endOfSnapshot();
      running.set(
        item,
        setInterval(() => {
          for (let i = kind === 'burst' ? 50 : 1; i > 0; i--) listener.update({ value: valueOf(kind, ++n) }, false);
        }, Number(ms)),
      );
    },
    unsubscribe(item: string) {
      clearInterval(running.get(item));
      running.delete(item);
    },
    stop() {
      for (const timer of running.values()) clearInterval(timer);
    },
  };
}
