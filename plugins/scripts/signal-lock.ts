// Takes signals (and the setting of priorities) away from the sandbox child before any script is loaded.
//
// The permission model does not cover signals, and the child runs as the gateway's user: code that got past vm2 could
// otherwise kill the gateway (process.kill(process.ppid)), make it reload again and again (SIGHUP), or open its
// inspector (SIGUSR1, process._debugProcess). process.kill goes through process._kill; the raw bindings are out of
// reach under --permission.
function refuse(what: string): () => never {
  return () => { throw Object.assign(new Error(`${what} is not allowed in a filter script sandbox`), { code: 'ERR_ACCESS_DENIED' }); };
}

export function lockSignals(): void {
  for (const name of ['kill', '_kill', '_debugProcess']) {
    Object.defineProperty(process, name, { value: refuse(`process.${name}`), writable: false, configurable: false });
  }
  // Not a signal, but the same reach into another process of the user: lowering the gateway's priority (its CPU share).
  const os = process.getBuiltinModule('os');
  Object.defineProperty(os, 'setPriority', { value: refuse('os.setPriority'), writable: false, configurable: false });
}
