/**
 * `POST /api/publish` bodies: `{ "item": "...", "fields": { "name": "value" | null } }` or a list
 * of those. Pure parsing here; the route authenticates and hands the updates to the bus.
 */
import { z } from 'zod';
import type { Bus, FieldValues } from './bus/bus.ts';
import { FIELD_NAME_PATTERN, ITEM_NAME_PATTERN } from './adapters/demo/feed.ts';

/** One request may carry this many updates; larger batches belong in several requests. */
export const MAX_UPDATES_PER_REQUEST = 1000;

const updateSchema = z
  .object({
    item: z.string().regex(ITEM_NAME_PATTERN, '1-128 characters out of A-Z a-z 0-9 _ . : @ / -'),
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

const listSchema = z
  .array(updateSchema)
  .min(1, 'an empty list')
  .max(MAX_UPDATES_PER_REQUEST, `at most ${MAX_UPDATES_PER_REQUEST} updates per request`);

export interface PublishUpdate {
  readonly item: string;
  readonly fields: FieldValues;
}

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
  // The shape picks the schema, so a refusal names the field at fault rather than "invalid union".
  const parsed = Array.isArray(json) ? listSchema.safeParse(json) : updateSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    return {
      ok: false,
      message: `${where}${issue.message} (expected {"item": "...", "fields": {"name": "value" | null}} or a list of them)`,
    };
  }
  return { ok: true, updates: Array.isArray(parsed.data) ? parsed.data : [parsed.data] };
}

/** Publishes in order, so updates to one item in one request keep their order; resolves with the count. */
export async function publishUpdates(bus: Bus, updates: readonly PublishUpdate[]): Promise<number> {
  for (const update of updates) await bus.publish(update.item, update.fields);
  return updates.length;
}
