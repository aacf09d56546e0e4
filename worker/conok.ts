import type { EdgeRequest } from './edge-request.ts';
import { isPinned, learnPin, renewPin } from './session-pins.ts';
import { conokOf, withControlLink } from './tlcp.ts';

/**
 * The control link the edge writes into CONOK for sessions of this domain, or null to keep the
 * origin's (`controlLink: "origin"`). The edge knows the public hostname the client used, so in host and path modes it — not
 * the origin — names the per-shard address: origins need no public configuration, and one origin
 * serves several domains (multihosting) with the right link for each.
 */
export function controlLinkFor(er: EdgeRequest, shard: string): string | null {
  const { domain } = er;
  if (domain.controlLink !== 'edge') return null;
  if (domain.modes.includes('path')) return `${er.client.host}/${domain.pathPrefix}/${shard}`;
  const host = domain.modes.includes('host') && Object.entries(domain.shardHosts).find(([, id]) => id === shard)?.[0];
  if (host) return `${host}${/:\d+$/.exec(er.client.host)?.[0] ?? ''}`;
  // No per-shard address (cookie, ip, pin, session-id): the client must stay on the balancing host,
  // whatever link the origin may announce for the deployments that bypass the edge.
  return '*';
}

/**
 * Acts on the CONOK of a create or bind response: learns the pin of a new session when the domain
 * needs one (a bind renews it), and rewrites the control link — on binds too, since the client
 * adopts the link of every CONOK it reads. Returns the line to send on.
 */
export async function onConok(er: EdgeRequest, shard: string, line: string, created: boolean): Promise<string> {
  const conok = conokOf(line);
  if (!conok) return line;
  if (isPinned(er, conok.session, shard)) {
    if (created) await learnPin(er, conok.session, shard);
    else renewPin(er, conok.session, shard, Date.now());
  }
  const link = controlLinkFor(er, shard);
  return link ? withControlLink(conok.fields, link) : line;
}
