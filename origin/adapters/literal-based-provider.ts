/**
 * Lightstreamer's stock metadata adapter, `com.lightstreamer.adapters.metadata.LiteralBasedProvider`,
 * which many adapters.xml pair with remote data adapters: a group is a space-separated list of item
 * names, a schema a space-separated list of field names, and any user may connect unless
 * `allowed_users` lists them. Its params: `allowed_users` (comma-separated), `distinct_snapshot_length`
 * (default 10), `max_frequency`, `buffer_size`, and `item_family_<n>` (a regular expression) with
 * `modes_for_item_family_<n>` (space-separated modes) restricting the modes of matching items.
 */
import { AccessError, ItemsError, SUBSCRIPTION_MODES, SchemaError, type ItemLimits, type MetadataAdapter, type SubscriptionMode } from './adapter.ts';

export const LITERAL_BASED_PROVIDER = 'com.lightstreamer.adapters.metadata.LiteralBasedProvider';

export const LITERAL_BASED_PARAMS = /^(allowed_users|distinct_snapshot_length|max_frequency|buffer_size|item_family_\d+|modes_for_item_family_\d+)$/;

/** Builds it from its params; throws with the param's name for a bad value. */
export function createLiteralBasedProvider(params: ReadonlyMap<string, string>): MetadataAdapter {
  const number = (name: string, fallback: number | undefined) => {
    const v = params.get(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new Error(`${name}: ${JSON.stringify(v)} is not a non-negative number`);
    return n;
  };
  const users = params.get('allowed_users');
  const allowed = users === undefined ? null : new Set(users.split(',').map((u) => u.trim()).filter(Boolean));
  const limits: ItemLimits = {
    distinctSnapshotLength: number('distinct_snapshot_length', 10),
    maxFrequency: number('max_frequency', undefined),
    bufferSize: number('buffer_size', undefined),
  };
  const families: Array<{ pattern: RegExp; modes: SubscriptionMode[] }> = [];
  for (const [name, value] of params) {
    const n = /^item_family_(\d+)$/.exec(name)?.[1];
    if (n === undefined) continue;
    let pattern: RegExp;
    try {
      pattern = new RegExp(`^(?:${value})$`);
    } catch {
      throw new Error(`${name}: not a regular expression`);
    }
    const modes = (params.get(`modes_for_item_family_${n}`) ?? '').split(/\s+/).filter(Boolean);
    const bad = modes.find((m) => !(SUBSCRIPTION_MODES as readonly string[]).includes(m));
    if (bad !== undefined) throw new Error(`modes_for_item_family_${n}: unknown mode ${bad}`);
    families.push({ pattern, modes: modes as SubscriptionMode[] });
  }
  const words = (s: string) => s.split(' ').filter(Boolean);
  return {
    notifyUser({ user }) {
      if (allowed && (user === null || !allowed.has(user))) throw new AccessError(`user ${user ?? '(none)'} is not allowed`);
    },
    getItems({ group }) {
      const items = words(group);
      if (items.length === 0) throw new ItemsError('empty group');
      return items;
    },
    getSchema({ schema }) {
      const fields = words(schema);
      if (fields.length === 0) throw new SchemaError('empty schema');
      return fields;
    },
    getItemLimits({ items }) {
      return items.map((item) => ({ ...limits, modes: families.find((f) => f.pattern.test(item))?.modes }));
    },
    notifyUserMessage() {
      return '';
    },
  };
}
