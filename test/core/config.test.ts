// The config: schema errors name the key path, --set overrides any key, check-config exits 1 with every error, SIGHUP keeps a good config.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, readConfig, ConfigError } from '../../core/config/load.ts';
import { parseDuration, parseSize } from '../../core/config/units.ts';
import { s, validate } from '../../core/config/schema.ts';
import { spawnGateway, startGateway } from '../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../helpers/smtp-dialog.ts';
import { freePort } from '../helpers/ports.ts';
import { waitUntil } from '../helpers/wait-for.ts';

const run = promisify(execFile);
const MOAT = path.resolve(import.meta.dirname, '..', '..', 'scripts', 'moat.js');

const dirs: string[] = [];
function tmpYaml(text: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-cfg-'));
  dirs.push(dir);
  const f = path.join(dir, 'mailmoat.yaml');
  writeFileSync(f, text);
  return f;
}

describe('config', () => {
  // Each test's folders go with it: a hook at the file's top level would be mocha's root hook, run once at the end
  // of the whole run, and skipped when the run is cut short or another file's root hook fails first.
  afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

  it('parses durations and sizes', () => {
    assert.deepEqual(['500ms', '30s', '5m', '2h', '4d', 250].map(parseDuration), [500, 30_000, 300_000, 7_200_000, 345_600_000, 250]);
    assert.deepEqual(['10MB', '512KB', '1G', 100].map(parseSize), [10 * 1024 ** 2, 512 * 1024, 1024 ** 3, 100]);
    assert.equal(parseDuration('soon'), undefined);
  });

  it('fills defaults and applies --set overrides by dotted path', async () => {
    const f = tmpYaml('domains: [example.com]\n');
    const { config } = await loadConfig({ file: f, overrides: ['limits.max_message_size=10MB', 'server.listen=[127.0.0.1:2626]', 'relay.networks=[10.0.0.0/8]'] });
    assert.equal(config.limits.max_message_size, 10 * 1024 * 1024);
    assert.deepEqual(config.server.listen, ['127.0.0.1:2626']);
    assert.deepEqual(config.relay.networks, ['10.0.0.0/8']);
    assert.equal(config.limits.max_recipients, 100);
    assert.equal(config.queue.lifetime, 4 * 86_400_000);
  });

  it('s.checked judges a value as a whole after its keys, and keeps doing so once described or defaulted', () => {
    const range = s.checked(s.object({ low: s.number(), high: s.number() }), (v, p, issues) => {
      if (v.low > v.high) issues.push({ path: `${p}.low`, message: `${v.low} is above high (${v.high})` });
    }).describe('a range').default({ low: 0, high: 1 });
    assert.deepEqual(validate(range, { low: 5, high: 2 }, 'r').issues, [{ path: 'r.low', message: '5 is above high (2)' }]);
    assert.deepEqual(validate(range, undefined, 'r'), { value: { low: 0, high: 1 }, issues: [] });
    assert.equal(range.description, 'a range');
    assert.deepEqual(Object.keys(range.children!()), ['low', 'high']);
  });

  it('reports every error with its key path and what was expected', async () => {
    const f = tmpYaml('server:\n  listen: [nonsense]\nlimits:\n  max_recipients: many\nbogus_key: 1\nplugins:\n  - name: no-such-plugin\n');
    await assert.rejects(loadConfig({ file: f }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      const paths = e.issues.map((i) => i.path);
      assert.ok(paths.includes('server.listen[0]'), paths.join());
      assert.ok(paths.includes('limits.max_recipients'));
      assert.ok(paths.includes('bogus_key'));
      assert.match(e.message, /limits\.max_recipients: expected a whole number ≥ 1, got the string "many"/);
      return true;
    });
    // A port past 65535 passed the check and failed only when the listener opened.
    await assert.rejects(loadConfig({ file: tmpYaml('server:\n  listen: ["127.0.0.1:99999"]\n') }), /server\.listen\[0\]: expected host:port/);
  });

  it('moat check-config exits 0 for a good file and 1 with every error', async () => {
    const good = tmpYaml('domains: [example.com]\n');
    const ok = await run(process.execPath, [MOAT, 'check-config', '--config', good]);
    assert.match(ok.stdout, /OK/);
    const bad = tmpYaml('limits:\n  max_connections: -1\nsmarthost: ftp://x\n');
    await assert.rejects(run(process.execPath, [MOAT, 'check-config', '--config', bad]), (e: { code: number; stderr: string }) => {
      assert.equal(e.code, 1);
      assert.match(e.stderr, /limits\.max_connections/);
      assert.match(e.stderr, /smarthost/);
      return true;
    });
  });

  it('names the key of a typo inside a smarthost or route mapping, not just the whole value', async () => {
    const f = tmpYaml('smarthost:\n  url: smtp://127.0.0.1:25\n  tls_verfy: false\nroutes:\n  example.org:\n    via: mx\n    prot: 26\n');
    await assert.rejects(loadConfig({ file: f }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.deepEqual(e.issues.map((i) => i.path), ['smarthost.tls_verfy', 'routes.example.org.prot']);
      assert.match(e.message, /is not a known key/);
      return true;
    });
    // A value of no form still gets the one message naming every form.
    await assert.rejects(loadConfig({ file: tmpYaml('smarthost: ftp://x\n') }), /smarthost: expected smtp:\/\/\[user:pass@\]host:port or smtps:\/\/… or a list of such URLs or a mapping/);
  });

  it('lists plugin option errors together with the other errors', async () => {
    const f = tmpYaml('limits:\n  max_recipients: many\nplugins:\n  - name: rbl\n    zonez: []\n');
    await assert.rejects(loadConfig({ file: f }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      const paths = e.issues.map((i) => i.path);
      assert.ok(paths.includes('limits.max_recipients'), paths.join());
      assert.ok(paths.includes('plugins[0].zonez'), paths.join());
      return true;
    });
  });

  it('refuses a plugin or smarthost timeout of 0, or one too long for a timer, which would time out every call', async () => {
    for (const t of ['0', '30d']) {
      await assert.rejects(loadConfig({ file: tmpYaml(`plugins:\n  - name: rbl\n    timeout: ${t}\n`) }), /plugins\[0\]\.timeout: expected a duration/);
      await assert.rejects(loadConfig({ file: tmpYaml(`smarthost:\n  url: smtp://127.0.0.1:25\n  timeout: ${t}\n`) }), /smarthost\.timeout: expected a duration/);
      await assert.rejects(loadConfig({ file: tmpYaml(`dns:\n  timeout: ${t}\n`) }), /dns\.timeout: expected a duration/);
      await assert.rejects(loadConfig({ file: tmpYaml(`routes:\n  example.org:\n    via: smtp://127.0.0.1:25\n    timeout: ${t}\n`) }), /routes\.example\.org\.timeout: expected a duration/);
    }
    // A retry delay of 0 would send a failing message back to the smarthost without a pause, for ever.
    await assert.rejects(loadConfig({ file: tmpYaml('queue:\n  retry_schedule: [0]\n') }), /queue\.retry_schedule\[0\]: expected a duration .*at least/);
  });

  it('names an address list entry, HELO pattern or DNS server that only looks right, which check-config passed and the start choked on', async () => {
    const f = tmpYaml([
      'relay:\n  networks: [10.0.0.0/8, 10.0.0.0/99]',
      'access:\n  deny_ips: [999.1.1.1]\n  helo_deny: ["^ok$", "(unclosed"]',
      'server:\n  trusted_proxies: ["::1/129"]',
      'dns:\n  servers: [127.0.0.1:53, resolver.example]',
    ].join('\n') + '\n');
    await assert.rejects(loadConfig({ file: f }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.deepEqual(e.issues.map((i) => i.path).sort(),
        ['access.deny_ips[0]', 'access.helo_deny[1]', 'dns.servers[1]', 'relay.networks[1]', 'server.trusted_proxies[0]']);
      assert.match(e.message, /access\.deny_ips\[0\]: "999\.1\.1\.1" is not an IP address or CIDR/);
      assert.match(e.message, /access\.helo_deny\[1\]: is not a valid regular expression/);
      return true;
    });
    await assert.rejects(run(process.execPath, [MOAT, 'check-config', '--config', f]), (e: { code: number; stderr: string }) => {
      assert.equal(e.code, 1);
      assert.match(e.stderr, /5 error\(s\)/);
      return true;
    });
    // What is right stays right: IPv6, IPv4-mapped and whole-address entries, any valid pattern.
    const good = tmpYaml('relay:\n  networks: ["::1/128", "::ffff:192.0.2.1", 192.0.2.0/24, 192.0.2.7]\naccess:\n  helo_deny: ["^\\\\[", "localhost$"]\ndns:\n  servers: ["[::1]:5353", 127.0.0.1]\n');
    const { config } = await loadConfig({ file: good });
    assert.deepEqual(config.relay.networks, ['::1/128', '::ffff:192.0.2.1', '192.0.2.0/24', '192.0.2.7']);
  });

  it('names a bad address in a plugin\'s own IP list too (rbl allowlist, greylist skip_ips, spf local_ips)', async () => {
    // They passed check-config and failed when the plugin was created, or never matched.
    const f = tmpYaml([
      'plugins:',
      '  - { name: rbl, zones: [{ zone: bl.test.example }], allowlist: [10.0.0.0/99] }',
      '  - { name: greylist, skip_ips: [999.1.1.1] }',
      '  - { name: spf, local_ips: [192.0.2.0/24, "2001:db8::/129"] }',
    ].join('\n') + '\n');
    await assert.rejects(loadConfig({ file: f }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.deepEqual(e.issues.map((i) => i.path).sort(), ['plugins[0].allowlist[0]', 'plugins[1].skip_ips[0]', 'plugins[2].local_ips[1]']);
      return true;
    });
  });

  it('refuses a smarthost or route URL the relay could not read, without quoting its password', async () => {
    // `pa/ss` passed check-config and then stopped `moat start` with "Invalid URL".
    const f = tmpYaml('smarthost: smtp://relay:pa/ss@127.0.0.1:25\nroutes:\n  example.org: smtp://u:x%zz@10.0.0.5:25\n  example.net: { via: "smtp://u:p@:25" }\n');
    await assert.rejects(loadConfig({ file: f }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.deepEqual(e.issues.map((i) => i.path).sort(), ['routes.example.net.via', 'routes.example.org', 'smarthost']);
      assert.match(e.message, /smarthost: .*percent-encoded/);
      // A value that fits no form at all is quoted, its credentials masked.
      assert.ok(!/pa\/ss|x%zz/.test(e.message), e.message);
      return true;
    });
    for (const pass of ['hunter2', 'hun/ter2', 'hun ter2']) {
      await assert.rejects(loadConfig({ file: tmpYaml(`smarthost: "smtx://relay:${pass}@127.0.0.1:25"\n`) }), (e: unknown) => {
        assert.match((e as Error).message, /smtx:\/\/relay:\*\*\*@127/);
        assert.ok(!/hun|ter2/.test((e as Error).message), (e as Error).message);
        return true;
      });
    }
    const { config } = await loadConfig({ file: tmpYaml('smarthost: smtp://relay:pa%2Fss@[::1]:2525\n') });
    assert.equal(config.smarthost, 'smtp://relay:pa%2Fss@[::1]:2525');
  });

  it('refuses a size limit or idle timeout of 0, and a greeting delay too long for a timer, which would not do what they say', async () => {
    // A max_message_size of 0 refused every message with 552; an idle_timeout of 0 was smtp-server's 1m.
    await assert.rejects(loadConfig({ file: tmpYaml('limits:\n  max_message_size: 0\n') }), /limits\.max_message_size: must be above 0/);
    await assert.rejects(loadConfig({ file: tmpYaml('server:\n  idle_timeout: 0s\n') }), /server\.idle_timeout: must be above 0/);
    await assert.rejects(loadConfig({ file: tmpYaml('server:\n  idle_timeout: 30d\n') }), /server\.idle_timeout: is longer than a timer/);
    await assert.rejects(loadConfig({ file: tmpYaml('server:\n  greeting_delay: 30d\n') }), /server\.greeting_delay: is longer than a timer/);
    const { config } = await loadConfig({ file: tmpYaml('server:\n  greeting_delay: 0\n  idle_timeout: 5m\nlimits:\n  max_message_size: 1KB\n') });
    assert.deepEqual([config.server.greeting_delay, config.server.idle_timeout, config.limits.max_message_size], [0, 300_000, 1024]);
  });

  it('refuses a state store URL that is not Redis\'s and a purge interval of 0 or longer than a timer can wait', async () => {
    // `notaurl` was accepted, and the gateway ran on a store it could never reach; a 30d purge ran every millisecond.
    await assert.rejects(loadConfig({ file: tmpYaml('state:\n  backend: redis\n  redis:\n    url: notaurl\n') }), /state\.redis\.url: .*redis:\/\//);
    for (const t of ['0', '30d']) await assert.rejects(loadConfig({ file: tmpYaml(`state:\n  purge_interval: ${t}\n`) }), /state\.purge_interval: expected a duration/);
    const { config } = await loadConfig({ file: tmpYaml('state:\n  redis:\n    url: rediss://user:pw@127.0.0.1:6380/2\n  purge_interval: 1m\n') });
    assert.deepEqual([config.state.redis.url, config.state.purge_interval], ['rediss://user:pw@127.0.0.1:6380/2', 60_000]);
  });

  it('names the key a typo most likely meant, and guesses nothing for a key unlike any', async () => {
    const f = tmpYaml('limits:\n  max_mesage_size: 10MB\nserver:\n  Listen: ["127.0.0.1:25"]\nqueue:\n  bounces:\n    copy-to: postmaster@example.org\nfrobnicate: 1\n');
    await assert.rejects(loadConfig({ file: f }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      const says = Object.fromEntries(e.issues.map((i) => [i.path, i.message]));
      assert.match(says['limits.max_mesage_size'], /^is not a known key; did you mean max_message_size\? \(known: /);
      assert.match(says['server.Listen'], /did you mean listen\?/);
      assert.match(says['queue.bounces.copy-to'], /did you mean copy_to\?/);
      assert.doesNotMatch(says.frobnicate, /did you mean/);
      return true;
    });
  });

  it('--set reaches a route whose domain has dots, as the README promises for any key', async () => {
    const { config } = await loadConfig({ overrides: [
      'routes.example.org=mx', 'routes..sub.example.net.via=smtp://127.0.0.1:2525', 'routes..sub.example.net.port=2526', 'routes.*=default',
    ] });
    assert.deepEqual(Object.keys(config.routes).sort(), ['*', '.sub.example.net', 'example.org']);
    assert.equal(config.routes['example.org'], 'mx');
    const sub = config.routes['.sub.example.net'] as { via: string; port: number };
    assert.deepEqual([sub.via, sub.port], ['smtp://127.0.0.1:2525', 2526]);
  });

  it('refuses a --set path through __proto__ instead of changing every object', async () => {
    const f = tmpYaml('domains: [example.com]\n');
    await assert.rejects(loadConfig({ file: f, overrides: ['__proto__.polluted=yes'] }), /__proto__\.polluted: is not a config key path/);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    await assert.rejects(loadConfig({ file: f, overrides: ['limits..max_recipients=5'] }), /is not a config key path/);
  });

  it('refuses a --set index past the end of a list, naming it, instead of leaving holes that crash the start', async () => {
    const f = tmpYaml('domains: [example.com]\nplugins:\n  - name: rules\n    rules: []\n');
    await assert.rejects(loadConfig({ file: f, overrides: ['plugins.5.timeout=5s'] }), /plugins\.5: is past the end of the list, which has 1 entry: index 1 adds one/);
    await assert.rejects(loadConfig({ file: f, overrides: ['domains.3=example.org'] }), /domains\.3: is past the end of the list, which has 1 entry/);
    const { config } = await loadConfig({ file: f, overrides: ['domains.1=example.org', 'plugins.0.timeout=9s'] });
    assert.deepEqual(config.domains, ['example.com', 'example.org'], 'the index just past the end adds one');
    assert.equal(config.plugins[0].timeout, 9000);
  });

  it('resolves auth.users_file against the config file, as data_dir is', async () => {
    const f = tmpYaml('auth:\n  users_file: users.db\n');
    const { config } = await loadConfig({ file: f });
    assert.equal(config.auth.users_file, path.join(path.dirname(f), 'users.db'));
  });

  it('resolves a plugin\'s module against the config file, when checked and when loaded, wherever it is run from', async () => {
    const fixture = path.resolve(import.meta.dirname, '..', 'fixtures', 'plugins', 'test-behaviour.ts');
    const f = tmpYaml('plugins:\n  - name: test-behaviour\n    module: plugins/behaviour.ts\n');
    const dir = path.dirname(f);
    mkdirSync(path.join(dir, 'plugins'));
    writeFileSync(path.join(dir, 'plugins', 'behaviour.ts'), `export { default } from ${JSON.stringify(fixture)};\n`);
    const { config } = await loadConfig({ file: f });
    assert.equal(config.plugins[0].module, path.join(dir, 'plugins', 'behaviour.ts'));
    assert.notEqual(process.cwd(), dir, 'run from elsewhere');
  });

  it('moat metrics and moat doctor take --set as moat start does, so they reach a gateway started with --set data_dir', async function () {
    this.timeout(60_000);
    const gw = await spawnGateway();
    try {
      // A file whose own data_dir is elsewhere, as for a gateway started with that file and --set data_dir=….
      const f = tmpYaml('data_dir: ./not-the-gateways\n');
      const { stdout } = await run(process.execPath, [MOAT, 'metrics', '--config', f, '--set', `data_dir=${gw.dataDir}`, '--json']);
      assert.equal(typeof (JSON.parse(stdout) as Record<string, number>).queue_scheduled, 'number', stdout);
      const doctor = await run(process.execPath, [MOAT, 'doctor', '--config', f, '--set', `data_dir=${gw.dataDir}`]);
      assert.match(doctor.stdout, new RegExp(`^ok {3}data_dir: ${gw.dataDir}: `, 'm'));
      // A bad --set is a config error with its key path, not a usage error or a stack.
      await assert.rejects(run(process.execPath, [MOAT, 'metrics', '--config', f, '--set', 'limits.max_recipients=many']), (e: { code: number; stderr: string }) => {
        assert.equal(e.code, 1);
        assert.match(e.stderr, /^ {2}limits\.max_recipients: expected a whole number/m);
        return true;
      });
    } finally { await gw.kill(); }
  });

  it('readConfig gives every schema error and the config as far as it validated, with its paths resolved', async () => {
    const f = tmpYaml('domains: "a.example, b.example"\ndata_dir: spool\nserver:\n  tls:\n    cert: c.pem\n    key: k.pem\n');
    const { config, issues, baseDir } = await readConfig({ file: f });
    assert.deepEqual(issues.map((i) => i.path), ['domains[0]']);
    assert.equal(config?.data_dir, path.join(baseDir, 'spool'));
    assert.equal(config?.server.tls.cert, path.join(baseDir, 'c.pem'));
    // A file that cannot be read gives no config at all.
    const none = await readConfig({ file: path.join(baseDir, 'absent.yaml') });
    assert.equal(none.config, undefined);
    assert.match(none.issues[0].message, /cannot read the file/);
  });

  it('a local domain written in its xn-- form takes mail for it, in either form (smtp-server gives the domain in Unicode)', async () => {
    const gw = await startGateway({ config: { domains: ['xn--bcher-kva.example', 'Example.NET.'] } });
    try {
      // A client without SMTPUTF8 names the domain in its A-label form, which smtp-server decodes: that is no UTF-8
      // of the client's, and the address is kept as sent. A local part beyond ASCII still needs SMTPUTF8.
      const cases: Array<[string, boolean, number]> = [
        ['user@xn--bcher-kva.example', false, 250], ['user@xn--bcher-kva.example', true, 250], ['user@bücher.example', true, 250],
        ['user@example.net', false, 250], ['üser@example.net', false, 553], ['postmaster', false, 250],
      ];
      for (const [rcpt, utf8, code] of cases) {
        const c = await SmtpDialog.connect(gw.port);
        await c.hello();
        await c.cmd(`MAIL FROM:<a@client.example>${utf8 ? ' SMTPUTF8' : ''}`);
        const r = await c.cmd(`RCPT TO:<${rcpt}>`);
        assert.equal(r.code, code, `${rcpt}${utf8 ? ' (SMTPUTF8)' : ''}: ${r.code} ${r.text}`);
        if (code === 250 && !utf8) {
          assert.equal((await c.data(testMessage({ subject: `idn ${rcpt}` }))).code, 250);
        }
        await c.quit();
      }
      const sent = gw.logs.filter((l) => l.msg === 'message').map((l) => (l.to as string[]).join(','));
      // The domainless postmaster is the first domain's, in the form a next hop without SMTPUTF8 takes.
      assert.deepEqual(sent, ['user@xn--bcher-kva.example', 'user@example.net', 'postmaster@xn--bcher-kva.example'], 'the A-label recipient is kept as sent');
    } finally { await gw.stop(); }
  });

  it('checks the options of every plugin entry without an error of its own, whatever the other entries\' errors', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-plugin-options-'));
    try {
      const file = path.join(dir, 'mailmoat.yaml');
      writeFileSync(file, 'plugins:\n  - { name: rbl, timeout: soon }\n  - { name: sender-domain, action: maybe }\n');
      const paths = (await readConfig({ file })).issues.map((i) => i.path);
      assert.ok(paths.includes('plugins[0].timeout'), paths.join(', '));
      // Before, one entry's error hid every entry's own options until the next run.
      assert.ok(paths.includes('plugins[1].action'), paths.join(', '));
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  it('a file that is not YAML is named by line and column, without quoting it (the line may hold a password)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-yaml-'));
    try {
      const file = path.join(dir, 'mailmoat.yaml');
      writeFileSync(file, 'smarthost: smtp://u:S3cretPass@127.0.0.1:25\nfoo: [bar, S3cretPass\n');
      const r = await readConfig({ file });
      assert.equal(r.issues.length, 1);
      assert.match(r.issues[0].message, /^is not valid YAML: .* at line \d+, column \d+$/);
      assert.doesNotMatch(r.issues[0].message, /S3cretPass/);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  it('the README\'s configuration table is what moat config-help prints, as the README says', async () => {
    const { stdout } = await run(process.execPath, [MOAT, 'config-help']);
    const readme = readFileSync(path.resolve(import.meta.dirname, '..', '..', 'README.md'), 'utf8').split('\n');
    const start = readme.indexOf('| key | expected | default | meaning |', readme.indexOf('## Configuration'));
    let end = start;
    while (end < readme.length && readme[end].startsWith('|')) end++;
    assert.deepEqual(readme.slice(start, end), stdout.trimEnd().split('\n'), 'regenerate the README table with `moat config-help`');
  });

  it('moat config-help documents the keys of smarthost and routes mappings, and refuses unknown options', async () => {
    const { stdout } = await run(process.execPath, [MOAT, 'config-help']);
    for (const key of ['smarthost', 'smarthost.url', 'smarthost.starttls', 'smarthost.timeout', 'routes.<name>.via', 'routes.<name>.port', 'routes.<name>.pass', 'limits.max_message_size', 'queue.bounces.send', 'log.format']) {
      assert.ok(stdout.includes(`| \`${key}\` |`), key);
    }
    await assert.rejects(run(process.execPath, [MOAT, 'config-help', '--bogus']), (e: { code: number; stderr: string }) => {
      assert.equal(e.code, 64);
      assert.match(e.stderr, /usage: moat config-help/);
      return true;
    });
  });

  it('moat config-help PLUGIN prints that plugin\'s options and symbols, and names a plugin it cannot find', async () => {
    const { stdout } = await run(process.execPath, [MOAT, 'config-help', 'scripts']);
    assert.match(stdout, /^# scripts: /);
    assert.match(stdout, /^\| `script_timeout` \| a duration .* \| `1s` \| Wall-clock time a script has per message/m);
    assert.match(stdout, /^\| `SCRIPT_FAILED` \| A script threw/m);
    await assert.rejects(run(process.execPath, [MOAT, 'config-help', 'no-such-plugin']), (e: { code: number; stderr: string }) => {
      assert.equal(e.code, 1);
      assert.match(e.stderr, /no plugin named "no-such-plugin" \(looked for .*plugins\/no-such-plugin\/index\.ts\)/);
      return true;
    });
  });

  it('SIGHUP of the embedded default keeps accepting mail for localhost', async function () {
    this.timeout(30_000);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-embedded-'));
    dirs.push(dir);
    const port = await freePort();
    const env = { ...process.env };
    delete env.MAILMOAT_CONFIG;
    const child = spawn(process.execPath, [MOAT, 'start', '--set', `server.listen=127.0.0.1:${port}`, '--set', 'log.format=json'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    child.stdout.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr.on('data', (d: Buffer) => output.push(d.toString()));
    try {
      await waitUntil('the start', () => output.join('').includes('"mailmoat started"'));
      child.kill('SIGHUP');
      await waitUntil('the reload', () => output.join('').includes('"config reloaded"'));
      const c = await SmtpDialog.connect(port);
      await c.hello();
      await c.cmd('MAIL FROM:<a@client.example>');
      assert.equal((await c.cmd('RCPT TO:<postmaster@localhost>')).code, 250);
      await c.quit();
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });

  it('SIGHUP applies a valid file and refuses an invalid one, keeping the running config', async function () {
    this.timeout(30_000);
    const gw = await spawnGateway({ config: { domains: ['one.example'] } });
    try {
      const original = readFileSync(gw.configFile, 'utf8');
      writeFileSync(gw.configFile, original.replace('one.example', 'two.example'));
      gw.child.kill('SIGHUP');
      await waitUntil('the reload', () => gw.output.join('').includes('"config reloaded"'));
      writeFileSync(gw.configFile, original + '\nlimits:\n  max_recipients: zero\n');
      gw.child.kill('SIGHUP');
      await waitUntil('the reload refused', () => gw.output.join('').includes('config reload refused'));
      assert.match(gw.output.join(''), /limits\.max_recipients/);
      assert.equal(gw.child.exitCode, null, 'the gateway keeps running');
    } finally { await gw.kill(); }
  });
});

