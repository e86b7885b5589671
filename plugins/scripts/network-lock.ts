// Takes the network away from the sandbox child before any script is loaded.
//
// Node 24's permission model has no network flag, so a script that got past vm2 to the child's own `process` could
// reach `net` through process.getBuiltinModule or import(). The modules are shared singletons: replacing the methods
// every outgoing path goes through (TCP and TLS connects, HTTP and fetch through them, UDP, DNS queries, listening)
// closes them for whatever reaches the modules later. The child's only channel is its framed pipe to the gateway (child-channel.ts).
import dgram from 'node:dgram';
import dns from 'node:dns';
import net from 'node:net';

function refuse(what: string): () => never {
  return () => { throw Object.assign(new Error(`${what} is not allowed in a filter script sandbox`), { code: 'ERR_ACCESS_DENIED' }); };
}

function lockMethods(target: object, names: string[], what: string): void {
  for (const name of names) {
    Object.defineProperty(target, name, { value: refuse(`${what}.${name}`), writable: false, configurable: false });
  }
}

/** Every function a module exports, replaced by one that throws (dns.lookup, dns.resolve*, dns.promises.*). */
function lockModule(mod: Record<string, unknown>, what: string): void {
  for (const [name, value] of Object.entries(mod)) {
    if (typeof value !== 'function' || /^[A-Z]/.test(name)) continue;
    try { Object.defineProperty(mod, name, { value: refuse(`${what}.${name}`), writable: false, configurable: false }); } catch { /* not configurable: left */ }
  }
}

/** Method names along a prototype chain (the resolvers inherit their queries from a base class). */
function methodsOf(proto: object): string[] {
  const names = new Set<string>();
  for (let p: object | null = proto; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const n of Object.getOwnPropertyNames(p)) if (n !== 'constructor' && typeof Object.getOwnPropertyDescriptor(p, n)?.value === 'function') names.add(n);
  }
  return [...names];
}

export function lockNetwork(): void {
  lockMethods(net.Socket.prototype, ['connect'], 'net.Socket');
  lockMethods(net.Server.prototype, ['listen'], 'net.Server');
  lockMethods(dgram.Socket.prototype, ['bind', 'connect', 'send'], 'dgram.Socket');
  lockMethods(dns.Resolver.prototype, methodsOf(dns.Resolver.prototype), 'dns.Resolver');
  lockMethods(dns.promises.Resolver.prototype, methodsOf(dns.promises.Resolver.prototype), 'dns.promises.Resolver');
  lockModule(dns as unknown as Record<string, unknown>, 'dns');
  lockModule(dns.promises as unknown as Record<string, unknown>, 'dns.promises');
  for (const name of ['fetch', 'WebSocket', 'EventSource']) delete (globalThis as Record<string, unknown>)[name];
}
