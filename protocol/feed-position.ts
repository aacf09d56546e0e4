/**
 * Where an event stands in a feed several origins share (edgepush's Redis bus): `<epoch>:<seq>`, the
 * same on every shard. An upstream subscription may name FEED_POSITION_FIELD as one more field of its
 * schema; an edgepush origin on a shared feed gives each event's position there (null elsewhere: an
 * embedded feed, or an event synthesised to repair a gap). The session layer uses it to tell, after
 * its upstream moved, which events of the new shard's history the client has not had yet — identical
 * events included, which their content alone cannot tell apart.
 */

export const FEED_POSITION_FIELD = 'edgepush.position';

export interface FeedPosition {
  /** The item's life in the feed: seqs compare only within one epoch. */
  readonly epoch: string;
  readonly seq: number;
}

export function formatFeedPosition(position: FeedPosition): string {
  return `${position.epoch}:${position.seq}`;
}

export function parseFeedPosition(value: string | null | undefined): FeedPosition | null {
  if (!value) return null;
  const colon = value.lastIndexOf(':');
  const seq = Number(value.slice(colon + 1));
  if (colon <= 0 || !Number.isSafeInteger(seq) || seq < 1) return null;
  return { epoch: value.slice(0, colon), seq };
}
