import type { EdgeRequest } from './edge-request.ts';
import { modesOf } from './modes/mode.ts';
import { conokOf, withControlLink } from './tlcp.ts';

/**
 * The control link the edge writes into CONOK for sessions of this domain, or null to keep the
 * origin's (`controlLink: "origin"`). The edge knows the public hostname the client used, so in host
 * and path modes it — not the origin — names the per-shard address: origins need no public
 * configuration, and one origin serves several domains (multihosting) with the right link for each.
 */
export function controlLinkFor(er: EdgeRequest, shard: string): string | null {
  if (er.domain.controlLink !== 'edge') return null;
  for (const mode of modesOf(er.domain)) {
    const link = mode.controlLink?.(er, shard);
    if (link) return link;
  }
  // No per-shard address (cookie, ip, pin, session-id): the client must stay on the balancing host,
  // whatever link the origin may announce for the deployments that bypass the edge.
  return '*';
}

/**
 * Acts on the CONOK of a create or bind response: the domain's modes learn from it (a pin), and the
 * control link is rewritten — on binds too, since the client adopts the link of every CONOK it
 * reads. Returns the line to send on, once what the modes learnt is durable.
 */
export async function onConok(er: EdgeRequest, shard: string, line: string, created: boolean): Promise<string> {
  const conok = conokOf(line);
  if (!conok) return line;
  for (const mode of modesOf(er.domain)) await mode.onConok?.(er, conok.session, shard, created);
  const link = controlLinkFor(er, shard);
  return link ? withControlLink(conok.fields, link) : line;
}
