// Points every resolver Haraka plugins build (dns.Resolver, dns.promises.Resolver, the defaults) at given servers.
import dns from 'node:dns';
import type { Any } from './cjs.ts';

let servers: string[] | undefined;
const live = new Set<WeakRef<Any>>();

function apply(r: Any): void {
  if (servers) r.setServers(servers);
}

let installed = false;

/** Swaps in the redirectable resolver classes; must run before haraka-net-utils is loaded (it keeps the class). */
export function installDnsRedirect(): void {
  if (installed) return;
  installed = true;
  const Plain = dns.Resolver;
  const Promised = dns.promises.Resolver;
  // Haraka plugins and haraka-net-utils create their own resolvers, which ignore dns.setServers(); subclass them.
  class RedirectedResolver extends Plain {
    constructor(...args: Any[]) { super(...args); apply(this); live.add(new WeakRef(this)); }
  }
  class RedirectedPromiseResolver extends Promised {
    constructor(...args: Any[]) { super(...args); apply(this); live.add(new WeakRef(this)); }
  }
  (dns as Any).Resolver = RedirectedResolver;
  (dns.promises as Any).Resolver = RedirectedPromiseResolver;
}

/**
 * Sends the process's DNS queries to `list` (`['127.0.0.1:5353']`): for tests and for gateways whose Haraka
 * plugins must use a local resolver. Resolvers created before the call are re-pointed too. Process-wide.
 * Returns a function that puts the previous servers back (the plugin's close() calls it).
 */
export function redirectDns(list: string[]): () => void {
  installDnsRedirect();
  const previous = { servers, plain: dns.getServers(), promised: dns.promises.getServers() };
  point(list);
  return () => {
    if (servers !== list) return; // a later entry redirected again; leave its choice alone
    servers = previous.servers;
    dns.setServers(previous.plain);
    dns.promises.setServers(previous.promised);
    for (const ref of live) ref.deref()?.setServers(previous.servers ?? previous.promised);
  };
}

function point(list: string[]): void {
  servers = list;
  dns.setServers(list);
  dns.promises.setServers(list);
  for (const ref of live) {
    const r = ref.deref();
    if (r) apply(r); else live.delete(ref);
  }
}
