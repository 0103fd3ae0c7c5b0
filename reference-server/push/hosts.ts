/**
 * Where the server may send notifications. A pusher's `data.url` is chosen by
 * whoever sets the pusher, so without a rule any client could make the server
 * send requests anywhere it can reach (SSRF). By default only loopback is
 * allowed: 127.0.0.0/8, ::1 (and IPv4-mapped forms of both) and the name
 * `localhost`, which must then resolve to loopback too. `pushAllowHosts` adds
 * host names or IP addresses, or `*` for any host.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** Whether an IP address is a loopback address (IPv4-mapped IPv6 addresses included). */
export function isLoopbackAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return loopback.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** What the URL's host allows: not at all, an IP literal, or a name to resolve (checked again once resolved). */
export type HostVerdict = { allowed: false; reason: string } | { allowed: true; resolveCheck: boolean };

export class HostPolicy {
  readonly #any: boolean;
  readonly #names: ReadonlySet<string>;

  constructor(allowHosts: readonly string[] = []) {
    this.#any = allowHosts.includes('*');
    this.#names = new Set(allowHosts.map(normalizeHost));
  }

  /** `hostname` as URL gives it (IPv6 in brackets). */
  check(hostname: string): HostVerdict {
    const host = normalizeHost(hostname);
    if (this.#any || this.#names.has(host)) return { allowed: true, resolveCheck: false };
    if (isIP(host) !== 0) {
      return isLoopbackAddress(host) ? { allowed: true, resolveCheck: false } : { allowed: false, reason: `${host} is not a loopback address (see pushAllowHosts)` };
    }
    if (host === 'localhost') return { allowed: true, resolveCheck: true };
    return { allowed: false, reason: `${host} is not localhost or a loopback address (see pushAllowHosts)` };
  }
}

/** Lower case, no brackets, no trailing dot: the form hosts are compared in. */
function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

export const HOST_NOT_ALLOWED = 'ERR_PUSH_HOST_NOT_ALLOWED';

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for node:net that keeps only loopback addresses, so that a name the
 * policy allowed because it should be loopback (`localhost`) cannot lead anywhere
 * else, whatever the resolver says. Refuses with code ERR_PUSH_HOST_NOT_ALLOWED.
 */
export function loopbackOnlyLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, '');
    const kept = addresses.filter((a) => isLoopbackAddress(a.address));
    const first = kept[0];
    if (first === undefined) {
      const refusal: NodeJS.ErrnoException = new Error(`${hostname} does not resolve to a loopback address`);
      refusal.code = HOST_NOT_ALLOWED;
      return callback(refusal, '');
    }
    if (options.all === true) callback(null, kept);
    else callback(null, first.address, first.family);
  });
}
