/**
 * Groups and schemas are space-separated names; every user's sessions are capped at `max_bandwidth`
 * kbps, except user `unlimited`, who has no cap.
 */
import type { MetadataAdapter } from '../../../origin/adapters/adapter.ts';

export function createMetadataAdapter(params: Record<string, string>): MetadataAdapter {
  const maxBandwidth = Number(params.max_bandwidth);
  return {
    notifyUser: ({ user }) => ({ maxBandwidth: user === 'unlimited' ? 0 : maxBandwidth }),
    getItems: ({ group }) => group.split(' '),
    getSchema: ({ schema }) => schema.split(' '),
    notifyUserMessage: () => '',
  };
}
