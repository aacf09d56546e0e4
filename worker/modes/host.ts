import type { RoutingMode } from './mode.ts';

/**
 * Mode `host` (guide 1.B.1, 2.B.1.x): every shard has a public hostname of its own (`shardHosts`),
 * which the edge writes into CONOK; the client sends every later request and socket there. A create
 * that arrives on a shard's hostname goes to that shard.
 */
export const host: RoutingMode = {
  name: 'host',
  source: 'request',
  claim: (er, _req, usable) => (er.hostShard && usable.includes(er.hostShard) ? er.hostShard : undefined),
  home: (er) => er.hostShard,
  controlLink(er, shard) {
    const name = Object.entries(er.domain.shardHosts).find(([, id]) => id === shard)?.[0];
    // The port the client used carries over: behind one listener, every name shares it.
    return name && `${name}${/:\d+$/.exec(er.client.host)?.[0] ?? ''}`;
  },
};
