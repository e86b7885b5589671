// A real authoritative DNS server on loopback for tests, run as its own child process (UDP and TCP on one port).
//
// API (import from test/helpers/dns-server.ts):
//
//   const dns = await startDnsServer({
//     zones: {
//       'example.test': {
//         '@':    { MX: [{ priority: 10, exchange: 'mx.example.test' }], TXT: ['v=spf1 -all'], SOA: { minimum: 30 } },
//         'mx':   { A: ['192.0.2.10'], AAAA: ['2001:db8::10'] },
//         'www':  { CNAME: 'mx.example.test' },
//         '*.wild': { A: ['192.0.2.99'] },
//       },
//       'nullmx.test': { '@': { MX: [{ priority: 0, exchange: '.' }] } },
//       'bl.test': { '2.0.0.127': { A: ['127.0.0.2'], TXT: ['listed'], ttl: 5 } },
//       '2.0.192.in-addr.arpa': { '10': { PTR: ['mx.example.test'] } },
//     },
//     ttl: 300,          // default TTL of records without their own `ttl`
//     negativeTtl: 60,   // SOA minimum (negative-answer TTL) of zones without an explicit SOA
//   });
//   dns.port, dns.host, dns.address ('127.0.0.1:PORT', the form `dns.servers` takes)
//   await dns.setRecords({ 'bl.test': { '3.0.0.127': { A: ['127.0.0.4'] }, '2.0.0.127': null } }); // merge; null deletes a name
//   await dns.setRecords({ ... }, { replace: true });   // replace every zone
//   await dns.setBehaviour('slow.bl.test', { delay: 1500 });   // answer late (applies to the name and every name below it)
//   await dns.setBehaviour('dead.test', { drop: true });       // never answer (a timeout for the resolver)
//   await dns.setBehaviour('broken.test', { rcode: 'SERVFAIL' });
//   await dns.setBehaviour('a.test', { drop: true, types: ['MX'] });  // only MX questions go unanswered
//   await dns.setBehaviour('slow.bl.test', null);               // back to normal
//   await dns.setBehaviour('.', { drop: true });                // '.' (the root) matches every name
//   await dns.clearBehaviours()                                 // every name back to normal
//   await dns.queries()        // [{ name, type, transport: 'udp'|'tcp' }] received so far (lower-case names)
//   await dns.resetQueries()
//   await dns.stop()
//
// Names inside a zone are relative ('mx', '2.0.0.127', '*.wild'), '@' for the apex, or absolute when they end
// with the zone's own name. Record sets: A, AAAA, MX (`{ priority, exchange }` or "10 mx.host"; exchange '.' is a
// null MX), TXT (a string, or a list whose items are strings or arrays of strings; strings over 255 bytes are
// split), PTR, CNAME, NS, SOA (`{ mname, rname, serial, minimum, ttl }`, apex only), `ttl`.
// Answers: records of the type (AA set, CNAMEs followed inside the server's data), NODATA (NOERROR, SOA in the
// authority section) for a name that exists without that type or an empty non-terminal, NXDOMAIN with SOA for a
// name that does not exist in a known zone, REFUSED outside every zone. Wildcards (`*.x`) answer names below x
// that do not exist. UDP answers over 512 bytes (or the client's EDNS size) come back truncated (TC), so
// resolvers must retry over TCP.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';

export interface MxInput { priority: number; exchange: string }
export interface SoaInput { mname?: string; rname?: string; serial?: number; minimum?: number; ttl?: number }
export interface RecordSet {
  A?: string | string[];
  AAAA?: string | string[];
  MX?: Array<MxInput | string> | MxInput | string;
  TXT?: string | Array<string | string[]>;
  PTR?: string | string[];
  CNAME?: string;
  NS?: string | string[];
  SOA?: SoaInput;
  ttl?: number;
}
/** zone origin → name (relative, '@' or absolute) → record set; `null` deletes the name in setRecords. */
export type Zones = Record<string, Record<string, RecordSet | null>>;
export interface Behaviour {
  drop?: boolean;
  delay?: number;
  rcode?: 'SERVFAIL' | 'REFUSED' | 'NXDOMAIN' | 'FORMERR' | 'NOTIMP';
  /** Only for these query types (default: all), e.g. `['MX']`. */
  types?: string[];
}
export interface QueryLogEntry { name: string; type: string; transport: 'udp' | 'tcp' }
export interface DnsServerOptions { zones?: Zones; ttl?: number; negativeTtl?: number; host?: string; behaviours?: Record<string, Behaviour> }

export interface DnsTestServer {
  host: string;
  port: number;
  /** `host:port`, ready for `dns.servers`. */
  address: string;
  setRecords(zones: Zones, opts?: { replace?: boolean }): Promise<void>;
  setBehaviour(name: string, behaviour: Behaviour | null): Promise<void>;
  clearBehaviours(): Promise<void>;
  queries(): Promise<QueryLogEntry[]>;
  resetQueries(): Promise<void>;
  stop(): Promise<void>;
}

const CHILD_FLAG = '--mailmoat-dns-test-server';

/** Starts the server in a child process and resolves once it listens. */
export async function startDnsServer(opts: DnsServerOptions = {}): Promise<DnsTestServer> {
  const child = fork(fileURLToPath(import.meta.url), [CHILD_FLAG], {
    execPath: process.execPath,
    execArgv: ['--no-warnings'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let seq = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let exited = false;
  const exitedP = new Promise<void>((resolve) => child.once('exit', () => { exited = true; resolve(); }));
  child.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve(m.result); else p.reject(new Error(m.error));
  });
  child.once('exit', (code) => { for (const p of pending.values()) p.reject(new Error(`dns test server exited (${code})`)); pending.clear(); });
  const call = <T>(op: string, ...args: unknown[]): Promise<T> => new Promise<T>((resolve, reject) => {
    if (exited) { reject(new Error('dns test server is not running')); return; }
    const id = ++seq;
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    child.send({ id, op, args });
  });
  const { port, host } = await call<{ port: number; host: string }>('start', opts);
  return {
    host,
    port,
    address: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`,
    setRecords: (zones, o = {}) => call('setRecords', zones, o.replace ?? false),
    setBehaviour: (name, b) => call('setBehaviour', name, b),
    clearBehaviours: () => call('clearBehaviours'),
    queries: () => call('queries'),
    resetQueries: () => call('resetQueries'),
    async stop() {
      if (exited) return;
      await call('stop').catch(() => undefined);
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exitedP;
      clearTimeout(timer);
    },
  };
}

// ---------------------------------------------------------------- the server side (child process) ----------

type Rr = { type: string; data: unknown; ttl: number };
interface Node { rrs: Rr[] }
interface ZoneMeta { origin: string; soa: Required<SoaInput> }

const lower = (n: string): string => n.replace(/\.$/, '').toLowerCase();
const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

class ZoneData {
  nodes = new Map<string, Node>();
  zones = new Map<string, ZoneMeta>();
  ttl: number;
  negativeTtl: number;
  constructor(ttl: number, negativeTtl: number) { this.ttl = ttl; this.negativeTtl = negativeTtl; }

  load(zones: Zones, replace: boolean): void {
    if (replace) { this.nodes.clear(); this.zones.clear(); }
    for (const [originRaw, names] of Object.entries(zones)) {
      const origin = lower(originRaw);
      if (!this.zones.has(origin)) this.zones.set(origin, { origin, soa: this.soaFor(origin, {}) });
      for (const [rel, set] of Object.entries(names)) {
        const name = this.absolute(rel, origin);
        if (set === null) { this.nodes.delete(name); continue; }
        if (set.SOA && name === origin) this.zones.set(origin, { origin, soa: this.soaFor(origin, set.SOA) });
        this.nodes.set(name, { rrs: this.toRrs(set) });
      }
    }
  }

  private soaFor(origin: string, s: SoaInput): Required<SoaInput> {
    return {
      mname: s.mname ?? `ns.${origin}`, rname: s.rname ?? `hostmaster.${origin}`, serial: s.serial ?? 1,
      minimum: s.minimum ?? this.negativeTtl, ttl: s.ttl ?? this.ttl,
    };
  }

  private absolute(rel: string, origin: string): string {
    const n = lower(rel);
    if (n === '@' || n === '') return origin;
    if (n === origin || n.endsWith(`.${origin}`)) return n;
    return `${n}.${origin}`;
  }

  private toRrs(set: RecordSet): Rr[] {
    const ttl = set.ttl ?? this.ttl;
    const out: Rr[] = [];
    for (const a of list(set.A)) out.push({ type: 'A', data: a, ttl });
    for (const a of list(set.AAAA)) out.push({ type: 'AAAA', data: a, ttl });
    for (const m of list(set.MX)) {
      const mx = typeof m === 'string' ? { priority: Number(m.split(/\s+/)[0]), exchange: m.split(/\s+/)[1] ?? '.' } : m;
      out.push({ type: 'MX', data: { preference: mx.priority, exchange: mx.exchange === '.' ? '' : lower(mx.exchange) }, ttl });
    }
    for (const t of list(set.TXT as string | Array<string | string[]>)) {
      const parts = (Array.isArray(t) ? t : [t]).flatMap((p) => splitTxt(p));
      out.push({ type: 'TXT', data: parts, ttl });
    }
    for (const p of list(set.PTR)) out.push({ type: 'PTR', data: lower(p), ttl });
    for (const n of list(set.NS)) out.push({ type: 'NS', data: lower(n), ttl });
    if (set.CNAME) out.push({ type: 'CNAME', data: lower(set.CNAME), ttl });
    return out;
  }

  zoneOf(name: string): ZoneMeta | undefined {
    let best: ZoneMeta | undefined;
    for (const z of this.zones.values()) {
      if ((name === z.origin || name.endsWith(`.${z.origin}`)) && (!best || z.origin.length > best.origin.length)) best = z;
    }
    return best;
  }

  /** The node answering `name`: itself, or the nearest wildcard; 'ent' for an empty non-terminal. */
  find(name: string, zone: ZoneMeta): Node | 'ent' | undefined {
    const own = this.nodes.get(name);
    if (own) return own;
    const prefix = `.${name}`;
    for (const k of this.nodes.keys()) if (k.endsWith(prefix)) return 'ent';
    let parent = name;
    while (parent !== zone.origin && parent.includes('.')) {
      parent = parent.slice(parent.indexOf('.') + 1);
      const wild = this.nodes.get(`*.${parent}`);
      if (wild) return wild;
      if (this.nodes.has(parent)) break;
    }
    return undefined;
  }
}

function splitTxt(s: string): string[] {
  const buf = Buffer.from(s);
  if (buf.length <= 255) return [s];
  const out: string[] = [];
  for (let i = 0; i < buf.length; i += 255) out.push(buf.subarray(i, i + 255).toString());
  return out;
}

const RCODES: Record<string, number> = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };

function answer(data: ZoneData, q: dnsPacket.Question): { rcode: number; answers: dnsPacket.Answer[]; authorities: dnsPacket.Answer[] } {
  const answers: dnsPacket.Answer[] = [];
  let name = lower(q.name);
  const zone0 = data.zoneOf(name);
  if (!zone0) return { rcode: RCODES.REFUSED, answers, authorities: [] };
  let zone: ZoneMeta = zone0;
  const soa = (z: ZoneMeta): dnsPacket.Answer[] => [{
    type: 'SOA', name: z.origin, ttl: Math.min(z.soa.ttl, z.soa.minimum),
    data: { mname: z.soa.mname, rname: z.soa.rname, serial: z.soa.serial, refresh: 3600, retry: 600, expire: 86400, minimum: z.soa.minimum },
  } as dnsPacket.Answer];
  for (let hop = 0; hop < 8; hop++) {
    const node = data.find(name, zone);
    if (node === undefined) return { rcode: RCODES.NXDOMAIN, answers, authorities: soa(zone) };
    const rrs = node === 'ent' ? [] : node.rrs;
    if (q.type === 'SOA' && name === zone.origin) {
      return { rcode: 0, answers: [...answers, ...soa(zone).map((a) => ({ ...a, ttl: zone.soa.ttl }) as dnsPacket.Answer)], authorities: [] };
    }
    const cname = rrs.find((r) => r.type === 'CNAME');
    if (cname && q.type !== 'CNAME') {
      answers.push({ type: 'CNAME', name, ttl: cname.ttl, data: cname.data } as dnsPacket.Answer);
      name = cname.data as string;
      const next = data.zoneOf(name);
      if (!next) return { rcode: 0, answers, authorities: [] };
      zone = next;
      continue;
    }
    const hits = rrs.filter((r) => r.type === q.type);
    if (!hits.length) return { rcode: 0, answers, authorities: soa(zone) };
    for (const r of hits) answers.push({ type: r.type, name, ttl: r.ttl, data: r.data } as dnsPacket.Answer);
    return { rcode: 0, answers, authorities: [] };
  }
  return { rcode: RCODES.SERVFAIL, answers: [], authorities: [] };
}

function runServer(): void {
  let data = new ZoneData(300, 60);
  const behaviours = new Map<string, Behaviour>();
  const log: QueryLogEntry[] = [];
  let udp: dgram.Socket | undefined;
  let tcp: net.Server | undefined;
  const tcpSockets = new Set<net.Socket>();

  const behaviourFor = (name: string, type: string): Behaviour | undefined => {
    let best: [string, Behaviour] | undefined;
    for (const [k, b] of behaviours) {
      if (b.types && !b.types.includes(type)) continue;
      if ((k === '' || name === k || name.endsWith(`.${k}`)) && (!best || k.length > best[0].length)) best = [k, b];
    }
    return best?.[1];
  };

  /** Builds the reply to a raw query, or undefined when it must go unanswered. */
  const handle = async (msg: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> => {
    let query: dnsPacket.DecodedPacket;
    try { query = dnsPacket.decode(msg); } catch { return undefined; }
    const q = query.questions?.[0];
    if (!q) return undefined;
    const name = lower(q.name);
    if (log.length < 50_000) log.push({ name, type: q.type, transport });
    const b = behaviourFor(name, q.type);
    if (b?.drop) return undefined;
    if (b?.delay) await new Promise((r) => setTimeout(r, b.delay));
    const rd = query.flags ? query.flags & dnsPacket.RECURSION_DESIRED : 0;
    const res = b?.rcode ? { rcode: RCODES[b.rcode], answers: [], authorities: [] } : answer(data, q);
    const packet = (answers: dnsPacket.Answer[], authorities: dnsPacket.Answer[], extra = 0): Buffer => dnsPacket.encode({
      type: 'response', id: query.id, flags: dnsPacket.AUTHORITATIVE_ANSWER | rd | res.rcode | extra,
      questions: [q], answers, authorities,
    });
    let out = packet(res.answers, res.authorities);
    if (transport === 'udp') {
      const opt = query.additionals?.find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
      const limit = Math.max(512, opt?.udpPayloadSize ?? 512);
      if (out.length > limit) out = packet([], [], dnsPacket.TRUNCATED_RESPONSE);
    }
    return out;
  };

  const listen = async (host: string): Promise<number> => {
    for (let attempt = 0; ; attempt++) {
      const u = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
      await new Promise<void>((resolve, reject) => { u.once('error', reject); u.bind(0, host, () => resolve()); });
      const port = u.address().port;
      const t = net.createServer((sock) => serveTcp(sock));
      try {
        await new Promise<void>((resolve, reject) => { t.once('error', reject); t.listen(port, host, () => resolve()); });
      } catch (e) {
        u.close();
        if (attempt >= 20) throw e;
        continue;
      }
      u.on('message', (msg, rinfo) => {
        void handle(msg, 'udp').then((out) => { if (out) u.send(out, rinfo.port, rinfo.address); });
      });
      udp = u;
      tcp = t;
      return port;
    }
  };

  const serveTcp = (sock: net.Socket): void => {
    tcpSockets.add(sock);
    sock.on('close', () => tcpSockets.delete(sock));
    sock.on('error', () => sock.destroy());
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        void handle(Buffer.from(msg), 'tcp').then((out) => {
          if (!out || sock.destroyed) return;
          const head = Buffer.alloc(2);
          head.writeUInt16BE(out.length);
          sock.write(Buffer.concat([head, out]));
        });
      }
    });
  };

  const ops: Record<string, (...args: any[]) => unknown> = {
    async start(o: DnsServerOptions) {
      data = new ZoneData(o.ttl ?? 300, o.negativeTtl ?? 60);
      data.load(o.zones ?? {}, true);
      for (const [k, b] of Object.entries(o.behaviours ?? {})) behaviours.set(lower(k), b);
      const host = o.host ?? '127.0.0.1';
      return { port: await listen(host), host };
    },
    setRecords(zones: Zones, replace: boolean) { data.load(zones, replace); },
    setBehaviour(name: string, b: Behaviour | null) { if (b) behaviours.set(lower(name), b); else behaviours.delete(lower(name)); },
    clearBehaviours() { behaviours.clear(); },
    queries() { return log; },
    resetQueries() { log.length = 0; },
    async stop() {
      udp?.close();
      for (const s of tcpSockets) s.destroy();
      await new Promise((r) => (tcp ? tcp.close(r) : r(undefined)));
      setImmediate(() => process.exit(0));
    },
  };

  process.on('message', (m: { id: number; op: string; args: unknown[] }) => {
    Promise.resolve()
      .then(() => ops[m.op](...m.args))
      .then((result) => process.send!({ id: m.id, ok: true, result }), (e: Error) => process.send!({ id: m.id, ok: false, error: e.message }));
  });
  // The test process died or forgot to stop us: never outlive it.
  process.on('disconnect', () => process.exit(0));
}

if (process.argv.includes(CHILD_FLAG) && typeof process.send === 'function') runServer();

