// An alert on config_last_reload_success fires for a config file that does not even parse: `moat reload` cannot read
// the data_dir from it, yet asks the gateway it most likely belongs to (the data_dir the broken YAML still names),
// which refuses the file itself, logs why and counts it, as after a SIGHUP. A real gateway, scraped over HTTP.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { spawnGateway, type SpawnedGateway } from '../helpers/gateway.ts';
import { freePort } from '../helpers/ports.ts';
import { waitFor } from '../helpers/wait-for.ts';

const run = promisify(execFile);
const MOAT = path.resolve(import.meta.dirname, '..', '..', 'scripts', 'moat.js');

describe('config_last_reload_success and a config file that does not parse', function () {
  this.timeout(60_000);
  let gw: SpawnedGateway;
  let httpPort: number;
  before(async () => {
    httpPort = await freePort();
    gw = await spawnGateway({ config: { http: { listen: [`127.0.0.1:${httpPort}`] } } });
  });
  after(async () => { await gw?.kill(); });

  const gauge = async (name: string) => {
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    return Number(new RegExp(`^mailmoat_${name} (\\S+)$`, 'm').exec(text)?.[1]);
  };

  it('reaches the gateway, which refuses the file and drops config_last_reload_success to 0', async () => {
    assert.equal(await gauge('config_last_reload_success'), 1);
    const startedAt = await gauge('config_last_reload_timestamp_seconds');
    writeFileSync(gw.configFile, `${readFileSync(gw.configFile, 'utf8')}plugins: [\n  - name: rbl\n`);
    const reloaded = await run(process.execPath, [MOAT, 'reload', '--config', gw.configFile]).then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);
    assert.equal(reloaded.code, 1, reloaded.stderr);
    assert.match(reloaded.stderr, /^refused: .*mailmoat\.yaml was not applied; the gateway keeps its running config$/m);
    assert.match(reloaded.stderr, /is not valid YAML/);
    assert.equal(await gauge('config_last_reload_success'), 0);
    assert.ok(await gauge('config_last_reload_timestamp_seconds') >= startedAt);
    await waitFor('the refusal in the gateway\'s log', () => (gw.output.join('').includes('is not valid YAML') ? true : undefined));
  });
});
