import ipaddr from 'ipaddr.js';

/**
 * Who a request counts as, for source-IP stickiness and the create rate limit: an IPv4 address as
 * is, an IPv6 address by its /64. A /64 is one subscriber's network (RFC 6177): its hosts rotate
 * privacy addresses inside it, so it is one client, and whoever holds a /64 must not become 2^64
 * clients. The text is normalised first — IPv4-mapped IPv6 is the IPv4 address, case and zero
 * compression do not matter — so one client has one key whatever form its address arrives in.
 */

/** The longest address text worth parsing (IPv6 with an embedded IPv4 is 45 characters). */
const MAX_ADDRESS_LENGTH = 64;

function parse(ip: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  // Strictly dotted-quad: inet_aton's shorthands ("10.1", octal, hex) would give one client several spellings.
  if (ipaddr.IPv4.isValidFourPartDecimal(ip)) return ipaddr.IPv4.parse(ip);
  return ipaddr.IPv6.isValid(ip) ? ipaddr.IPv6.parse(ip) : null;
}

/** The client key of an address, or null for none or anything that is not an address. */
export function clientKeyOf(ip: string | null): string | null {
  let address = ip && ip.length <= MAX_ADDRESS_LENGTH ? parse(ip) : null;
  if (address instanceof ipaddr.IPv6 && address.isIPv4MappedAddress()) address = address.toIPv4Address();
  if (address instanceof ipaddr.IPv4) return address.toString();
  if (!address) return null;
  const network = [...address.parts.slice(0, 4), 0, 0, 0, 0];
  return `${new ipaddr.IPv6(network).toString()}/64`;
}
