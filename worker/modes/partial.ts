import type { RoutingMode } from './mode.ts';

/**
 * Mode `partial` (guide 1.B.2, 2.B.1.2/4, 2.B.2.2/4): only session creation goes through the edge.
 * The origin announces its own public address as the control link (`controlLink: "origin"` keeps
 * it), and every CR request goes straight to that shard, never to the edge.
 */
export const partial: RoutingMode = {
  name: 'partial',
  source: 'request',
};
