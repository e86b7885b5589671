// A Haraka folder written for one test file (config files and plain plugins given as text) and the real gateway
// running it, relaying to a recording smarthost, with every lookup on a loopback DNS server. Call it in a describe:
// it adds that describe's before/after hooks.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { startDnsServer, type DnsTestServer, type Zones } from '../../helpers/dns-server.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';

export interface FolderSpec {
  /** Files under `config/` by name (`plugins`, `host_list`, `karma.ini`…). */
  config: Record<string, string>;
  /** Plain plugins under `plugins/` by short name (no `.js`). */
  plugins?: Record<string, string>;
  /** Gateway config merged over the test defaults (domains `example.test`). */
  gateway?: Record<string, unknown>;
  /** Options of the haraka entry beyond dir, dns_servers and timeout. */
  entry?: Record<string, unknown>;
  zones?: Zones;
}

export interface FolderGateway {
  readonly gw: RelayingGateway;
  readonly dir: string;
  readonly dns: DnsTestServer;
}

export function useFolderGateway(name: string, spec: FolderSpec): FolderGateway {
  let gw: RelayingGateway;
  let dns: DnsTestServer;
  let dir: string;
  let release: () => void;
  before(async () => {
    dns = await startDnsServer({ zones: spec.zones ?? {} });
    dir = mkdtempSync(path.join(os.tmpdir(), `${name}-`));
    release = holdUntilExit({ dir });
    mkdirSync(path.join(dir, 'config'));
    mkdirSync(path.join(dir, 'plugins'));
    for (const [file, text] of Object.entries(spec.config)) writeFileSync(path.join(dir, 'config', file), text);
    for (const [plugin, code] of Object.entries(spec.plugins ?? {})) writeFileSync(path.join(dir, 'plugins', `${plugin}.js`), code);
    gw = await startRelayingGateway({
      config: {
        domains: ['example.test'],
        dns: { servers: [dns.address], timeout: '500ms', tries: 1 },
        ...spec.gateway,
        plugins: [{ name: 'haraka', dir, dns_servers: [dns.address], timeout: '20s', ...spec.entry }],
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await dns?.stop();
    release?.();
  });
  return {
    get gw() { return gw; },
    get dir() { return dir; },
    get dns() { return dns; },
  };
}
