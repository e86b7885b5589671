// What the tests of a haraka entry's folder share: a loopback DNS server and smarthost, a base folder removed at exit,
// config files each beside its own data_dir, and gateways created from them and stopped after each test. Call it in
// a describe: it adds that describe's before/after hooks.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { createGateway, type Gateway } from '../../../core/gateway.ts';
import { loadConfig } from '../../../core/config/load.ts';
import type { LogFields } from '../../../core/log/types.ts';
import { startDnsServer, type DnsTestServer, type Zones } from '../../helpers/dns-server.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';

export interface FolderBed {
  readonly dns: DnsTestServer;
  readonly sink: Smarthost;
  /** The folder everything of the test file goes under. */
  readonly base: string;
  /** A number not used before in this file, for folder names. */
  next(): number;
  /** A config file beside its own data_dir, naming the Haraka folder `dir` as given (relative ones from the file's folder). */
  configFile(dir: string): string;
  /** A gateway started from `file`, as `moat start` loads it, with its log lines; stopped after the test. */
  start(file: string): Promise<{ gateway: Gateway; logs: LogFields[] }>;
  /** Stops a gateway `start` made, within the test. */
  stop(gateway: Gateway): Promise<void>;
}

export function useFolderBed(name: string, zones: Zones = {}): FolderBed {
  let dns: DnsTestServer;
  let sink: Smarthost;
  let base: string;
  let release: () => void;
  const running: Gateway[] = [];
  let seq = 0;
  before(async () => {
    dns = await startDnsServer({ zones });
    sink = await startSmarthost();
    base = mkdtempSync(path.join(os.tmpdir(), `${name}-`));
    release = holdUntilExit({ dir: base });
  });
  afterEach(async () => {
    for (const g of running.splice(0)) await g.stop();
  });
  after(async () => {
    await Promise.all([dns?.stop(), sink?.stop()]);
    release?.();
  });
  return {
    get dns() { return dns; },
    get sink() { return sink; },
    get base() { return base; },
    next: () => ++seq,
    configFile(dir: string): string {
      const at = path.join(base, `gw-${++seq}`);
      mkdirSync(at);
      const file = path.join(at, 'mailmoat.yaml');
      writeFileSync(file, stringify({
        server: { hostname: 'mx.test.example', listen: ['127.0.0.1:0'], trusted_proxies: ['127.0.0.1/32'] },
        domains: ['example.com'],
        data_dir: path.join(at, 'data'),
        smarthost: `smtp://127.0.0.1:${sink.port}`,
        dns: { servers: [dns.address], timeout: '500ms', tries: 1 },
        log: { level: 'debug', format: 'json' },
        plugins: [{ name: 'haraka', dir, dns_servers: [dns.address], timeout: '10s' }],
      }));
      return file;
    },
    async start(file: string) {
      const logs: LogFields[] = [];
      const gateway = await createGateway({ config: (await loadConfig({ file })).config, configFile: file, configDir: path.dirname(file), logSink: { write() {} }, onLog: (r) => { logs.push(r); } });
      running.push(gateway);
      return { gateway, logs };
    },
    async stop(gateway: Gateway) {
      running.splice(running.indexOf(gateway), 1);
      await gateway.stop();
    },
  };
}
