/**
 * `POST /api/publish` bodies: `{ "item": "...", "fields": { "name": "value" | null } }`, or
 * `{ "item": "...", "clearSnapshot": true }` to empty the item's snapshot, or a list of those.
 * Pure parsing here; the route authenticates and hands the updates to the bus.
 */
import { z } from 'zod';
import { BusUnavailableError, type Bus, type FieldValues } from './bus/bus.ts';
import { FIELD_NAME_PATTERN, ITEM_NAME_PATTERN } from './adapters/demo/feed.ts';

/** One request may carry this many updates; larger batches belong in several requests. */
export const MAX_UPDATES_PER_REQUEST = 1000;

const itemName = z.string().regex(ITEM_NAME_PATTERN, '1-128 characters out of A-Z a-z 0-9 _ . : @ / -');

const updateSchema = z
  .object({
    item: itemName,
    fields: z
      .record(z.string(), z.string().nullable())
      .superRefine((fields, ctx) => {
        const names = Object.keys(fields);
        if (names.length === 0) ctx.addIssue({ code: 'custom', message: 'at least one field' });
        for (const name of names.filter((n) => !FIELD_NAME_PATTERN.test(n))) {
          ctx.addIssue({ code: 'custom', path: [name], message: 'field names need 1-128 characters out of A-Z a-z 0-9 _ . : @ / -' });
        }
      }),
  })
  .strict();

const clearSchema = z.object({ item: itemName, clearSnapshot: z.literal(true) }).strict();

// The shape picks the schema, so a refusal names the field at fault rather than "invalid union".
const entrySchema = (entry: unknown) =>
  entry !== null && typeof entry === 'object' && 'clearSnapshot' in entry ? clearSchema : updateSchema;

const listSchema = z
  .array(z.unknown())
  .min(1, 'an empty list')
  .max(MAX_UPDATES_PER_REQUEST, `at most ${MAX_UPDATES_PER_REQUEST} updates per request`);

export type PublishUpdate =
  | { readonly item: string; readonly fields: FieldValues }
  | { readonly item: string; readonly clearSnapshot: true };

export type ParsedPublish =
  | { readonly ok: true; readonly updates: readonly PublishUpdate[] }
  | { readonly ok: false; readonly message: string };

/** Parses a request body; a failure carries the message for the 400 answer. */
export function parsePublishBody(body: string): ParsedPublish {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { ok: false, message: 'body is not JSON' };
  }
  const refusal = (issue: z.core.$ZodIssue, at: PropertyKey[] = []): ParsedPublish => {
    const path = [...at, ...issue.path];
    const where = path.length > 0 ? `${path.join('.')}: ` : '';
    return {
      ok: false,
      message: `${where}${issue.message} (expected {"item": "...", "fields": {"name": "value" | null}} or {"item": "...", "clearSnapshot": true}, or a list of them)`,
    };
  };
  let entries: unknown[] = [json];
  if (Array.isArray(json)) {
    const list = listSchema.safeParse(json);
    if (!list.success) return refusal(list.error.issues[0]);
    entries = list.data;
  }
  const updates: PublishUpdate[] = [];
  for (const [i, entry] of entries.entries()) {
    const parsed = entrySchema(entry).safeParse(entry);
    if (!parsed.success) return refusal(parsed.error.issues[0], Array.isArray(json) ? [i] : []);
    updates.push(parsed.data);
  }
  return { ok: true, updates };
}

/**
 * The bus became unavailable part-way: the first `published` updates went out, the rest did not,
 * so a caller retrying must resend only those.
 */
export class PublishInterrupted extends Error {
  constructor(
    readonly published: number,
    cause: BusUnavailableError,
  ) {
    super(cause.message, { cause });
    this.name = 'PublishInterrupted';
  }
}

/** Publishes in order, so updates to one item in one request keep their order; resolves with the count. */
export async function publishUpdates(bus: Bus, updates: readonly PublishUpdate[]): Promise<number> {
  let published = 0;
  try {
    for (const update of updates) {
      if ('clearSnapshot' in update) await bus.clear(update.item);
      else await bus.publish(update.item, update.fields);
      published++;
    }
  } catch (err) {
    if (err instanceof BusUnavailableError) throw new PublishInterrupted(published, err);
    throw err;
  }
  return published;
}
