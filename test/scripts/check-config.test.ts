// `moat check-config` run as an admin runs it: OK only for a config the gateway starts with and whose domains match
// mail, and every error listed at once.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const MOAT = path.resolve(import.meta.dirname, '..', '..', 'scripts', 'moat.js');
const CORE = pathToFileURL(path.resolve(import.meta.dirname, '..', '..', 'core', 'index.ts')).href;

describe('moat check-config', function () {
  this.timeout(30_000);
  let dir: string;
  before(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-check-config-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function checkConfig(yaml: string, sets: string[] = []): { code: number; out: string } {
    const file = path.join(dir, 'mailmoat.yaml');
    writeFileSync(file, `data_dir: ./data\n${yaml}`);
    const args = sets.flatMap((x) => ['--set', x]);
    const r = spawnSync(process.execPath, [MOAT, 'check-config', '--config', file, ...args], { encoding: 'utf8', cwd: os.tmpdir() });
    return { code: r.status ?? -1, out: r.stdout + r.stderr };
  }

  describe('domains', () => {
    it('refuses a Postfix-style comma-separated string, with the list to write instead', () => {
      const r = checkConfig('domains: "example.com, example.net"\n');
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /^ {2}domains\[0\]: "example\.com, example\.net" is several names in one string; write a list: domains: \[example\.com, example\.net\]$/m);
    });

    it('names each entry that is no domain name: a space, an address, a pattern, a bad label, an IP address', () => {
      const r = checkConfig('domains: ["example.com example.net", "mail example", "postmaster@example.org", "@example.org", ".example.org", "a_b.example", "-x.example", "a..example", "xn--zz.example", "192.0.2.1"]\n');
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /: 10 error\(s\)/);
      assert.match(r.out, /domains\[0\]: .* write a list: domains: \[example\.com, example\.net\]/);
      assert.match(r.out, /domains\[1\]: "mail example" has a space in it/);
      assert.match(r.out, /domains\[2\]: .* is not a domain name; write the part after the @ \(example\.org\)/);
      assert.match(r.out, /domains\[3\]: .* is not a domain name; write the part after the @ \(example\.org\)/);
      assert.match(r.out, /domains\[4\]: .* is a pattern; list each domain itself/);
      assert.match(r.out, /domains\[5\]: .*label "a_b"/);
      assert.match(r.out, /domains\[6\]: .*label "-x"/);
      assert.match(r.out, /domains\[7\]: .*label ""/);
      assert.match(r.out, /domains\[8\]: .*xn--zz is not a valid xn-- label/);
      assert.match(r.out, /domains\[9\]: .*is an address, not a domain name/);
    });

    it('takes a trailing dot, capitals, and an internationalized name in either form', () => {
      const r = checkConfig('domains: [example.com., Example.NET, bücher.example, xn--bcher-kva.example, localhost]\n');
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /: OK$/m);
    });

    it('asks for the normal form of a name that only maps to one (full-width letters)', () => {
      const r = checkConfig('domains: ["ｅｘａｍｐｌｅ.com"]\n');
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /domains\[0\]: .* is not in a domain name's normal form; write example\.com/);
    });
  });

  describe('the TLS files', () => {
    it('lists both a missing certificate and a missing key, with the other errors of the file', () => {
      const r = checkConfig('domains: ["a.example, b.example"]\nserver:\n  tls:\n    cert: missing.crt\n    key: missing.key\n');
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /: 3 error\(s\)/);
      assert.match(r.out, /^ {2}domains\[0\]: /m);
      assert.match(r.out, new RegExp(`^ {2}server\\.tls\\.cert: cannot read ${path.join(dir, 'missing.crt').replace(/[.]/g, '\\.')}: ENOENT$`, 'm'));
      assert.match(r.out, /^ {2}server\.tls\.key: cannot read .*missing\.key: ENOENT$/m);
    });

    it('refuses a certificate that is no PEM, as the start does', () => {
      writeFileSync(path.join(dir, 'junk.crt'), 'not a certificate\n');
      writeFileSync(path.join(dir, 'junk.key'), 'not a key\n');
      const r = checkConfig('server:\n  tls:\n    cert: junk.crt\n    key: junk.key\n');
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /^ {2}server\.tls \(cert .*junk\.crt, key .*junk\.key\): not a usable certificate and key: .*/m);
    });
  });

  describe("a plugin's own check", () => {
    // A plugin outside plugins/ (module:) with the optional `check` of its definition, as a plugin offers one.
    function writePlugin(): string {
      const file = path.join(dir, 'file-plugin.ts');
      writeFileSync(file, [
        `import { readFileSync } from 'node:fs';`,
        `import path from 'node:path';`,
        `import { s } from '${CORE}';`,
        'export default {',
        `  name: 'file-plugin', description: 'reads a file at start',`,
        `  configSchema: s.object({ file: s.string() }),`,
        '  create: () => ({ hooks: {} }),',
        '  check(cfg: { file: string }, setup: { configDir: string }) {',
        '    const file = path.resolve(setup.configDir, cfg.file);',
        '    try { readFileSync(file); return []; } catch (e) { return [{ path: \'file\', message: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code}` }]; }',
        '  },',
        '};',
        '',
      ].join('\n'));
      return file;
    }

    it('lists what the check finds, under the key path of the entry, and OK once it finds nothing', () => {
      writePlugin();
      const bad = checkConfig('domains: [example.com]\nplugins:\n  - name: file-plugin\n    module: ./file-plugin.ts\n    file: absent.txt\n');
      assert.equal(bad.code, 1, bad.out);
      assert.match(bad.out, /^ {2}plugins\[0\]\.file: cannot read .*absent\.txt: ENOENT$/m);
      writeFileSync(path.join(dir, 'present.txt'), 'here\n');
      const good = checkConfig('domains: [example.com]\nplugins:\n  - name: file-plugin\n    module: ./file-plugin.ts\n    file: present.txt\n');
      assert.equal(good.code, 0, good.out);
    });

    it('bayes: a seed that cannot be read, which the start would refuse, and a dictionary that exists needs none', () => {
      const bad = checkConfig('domains: [example.com]\nplugins:\n  - name: bayes\n    dictionary: ./dict.tab\n    seed: ./no-such-seed.tab\n');
      assert.equal(bad.code, 1, bad.out);
      assert.match(bad.out, /^ {2}plugins\[0\]\.seed: .*no-such-seed\.tab cannot be read \(ENOENT\), so the dictionary .*dict\.tab cannot be made from it$/m);
      writeFileSync(path.join(dir, 'dict.tab'), '0\t0\n');
      const good = checkConfig('domains: [example.com]\nplugins:\n  - name: bayes\n    dictionary: ./dict.tab\n    seed: ./no-such-seed.tab\n');
      assert.equal(good.code, 0, good.out);
    });

    it('rules: a list file that cannot be read, named by its key', () => {
      const yaml = (file: string) => `domains: [example.com]\nplugins:\n  - name: rules\n    lists:\n      vips: ${file}\n    rules:\n      - name: vip\n        when: { from: { list: vips } }\n        actions: [{ score: -5 }]\n`;
      const bad = checkConfig(yaml('./no-such-list.txt'));
      assert.equal(bad.code, 1, bad.out);
      assert.match(bad.out, /^ {2}plugins\[0\]\.lists\.vips: cannot read .*no-such-list\.txt: ENOENT$/m);
      writeFileSync(path.join(dir, 'vips.txt'), 'boss@example.com\n');
      const good = checkConfig(yaml('./vips.txt'));
      assert.equal(good.code, 0, good.out);
    });

    it('scripts: a script that is not JavaScript, or cannot be read, which the start would refuse', () => {
      writeFileSync(path.join(dir, 'good.js'), 'module.exports = function (m) { return { findings: [] }; };\n');
      writeFileSync(path.join(dir, 'bad.js'), 'module.exports = function (m) { return { findings: [ };\n');
      const yaml = (files: string[]) => `domains: [example.com]\nplugins:\n  - name: scripts\n    scripts: [${files.join(', ')}]\n`;
      const bad = checkConfig(yaml(['./good.js', './bad.js']));
      assert.equal(bad.code, 1, bad.out);
      assert.match(bad.out, /^ {2}plugins\[0\]\.scripts\[1\]: .*bad\.js:1:54 is not valid JavaScript: Unexpected token/m);
      const missing = checkConfig(yaml(['./absent.js']));
      assert.equal(missing.code, 1, missing.out);
      assert.match(missing.out, /^ {2}plugins\[0\]\.scripts\[0\]: cannot read filter script .*absent\.js: ENOENT$/m);
      assert.equal(checkConfig(yaml(['./good.js'])).code, 0);
    });

    it('scripts and rules: an entry timeout that would cut the hook off before the plugin\'s own limits, as the start refuses', () => {
      writeFileSync(path.join(dir, 'good.js'), 'module.exports = function (m) { return { findings: [] }; };\n');
      const r = checkConfig('domains: [example.com]\nplugins:\n  - name: scripts\n    scripts: [./good.js]\n    timeout: 2s\n'
        + '  - name: rules\n    timeout: 1s\n    regex_timeout: 40s\n    rules: [{ name: a, when: { subject: { regex: x } }, actions: [{ score: 1 }] }]\n');
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /^ {2}plugins\[0\]\.timeout: is 2s, not above max_wait \+ script_timeout \(6s\): the hook would be cut off before the plugin's own limit answers$/m);
      assert.match(r.out, /^ {2}plugins\[1\]\.timeout: is 1s, not above max_wait \+ regex_timeout \(45s\)/m);
      assert.equal(checkConfig('domains: [example.com]\nplugins:\n  - name: scripts\n    scripts: [./good.js]\n    timeout: 7s\n').code, 0);
    });

    it('quarantine_digest.link_base: a path the gateway would not answer at, unless a reverse proxy strips it', () => {
      const base = 'domains: [example.com]\nhttp: { listen: ["127.0.0.1:9443"], tls: true }\n';
      const r = checkConfig(`${base}quarantine_digest: { link_base: "https://mx.example.com/mail/" }\n`);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /^ {2}quarantine_digest\.link_base: has a path, but the gateway answers \/quarantine\/… at its root/m);
      assert.equal(checkConfig(`${base}quarantine_digest: { link_base: "https://mx.example.com:9443/" }\n`).code, 0);
      const proxied = 'domains: [example.com]\nhttp: { listen: ["127.0.0.1:9080"], trusted_proxies: ["127.0.0.1"] }\n';
      assert.equal(checkConfig(`${proxied}quarantine_digest: { link_base: "https://www.example.com/mail/" }\n`).code, 0);
    });

    it("runs each entry's check when that entry validated, whatever errors other keys and entries have", () => {
      // A core key in error, an entry whose own key is wrong (which also kept the loader from reading the other
      // entries' options), an entry with a wrong option, and two entries whose checks find something: one run lists all.
      writePlugin();
      const r = checkConfig([
        'domains: [example.com]',
        'limits:',
        '  max_message_size: lots',
        'plugins:',
        '  - name: rbl',
        '    timeout: soon',
        '  - name: rules',
        '    no_such_option: 1',
        '  - name: bayes',
        '    dictionary: ./never-made.tab',
        '    seed: ./no-such-seed.tab',
        '  - name: file-plugin',
        '    module: ./file-plugin.ts',
        '    file: absent.txt',
        '',
      ].join('\n'));
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /^ {2}limits\.max_message_size: /m);
      assert.match(r.out, /^ {2}plugins\[0\]\.timeout: /m);
      assert.match(r.out, /^ {2}plugins\[1\]\.no_such_option: /m);
      assert.match(r.out, /^ {2}plugins\[2\]\.seed: .*no-such-seed\.tab cannot be read \(ENOENT\)/m);
      assert.match(r.out, /^ {2}plugins\[3\]\.file: cannot read .*absent\.txt: ENOENT$/m);
      assert.match(r.out, /: 5 error\(s\)/, 'each error once');
    });

    it("lists an entry's own option errors beside an error in its timeout, in one run", () => {
      const r = checkConfig('domains: [example.com]\nplugins:\n  - name: rbl\n    timeout: soon\n    zones: nope\n');
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /^ {2}plugins\[0\]\.timeout: /m);
      assert.match(r.out, /^ {2}plugins\[0\]\.zones\[0\]: /m);
    });

    it('rules: a list file that cannot be read is listed with the entry\'s option errors in one run, each error once', () => {
      const r = checkConfig([
        'domains: [example.com]',
        'plugins:',
        '  - name: rules',
        '    regex_timeout: forever',
        '    lists:',
        '      vips: ./no-such-list.txt',
        '      blank: ""',
        '    rules:',
        '      - name: vip',
        '        when: { from: { list: vips } }',
        '        actions: [{ score: -5 }]',
        '',
      ].join('\n'));
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /^ {2}plugins\[0\]\.regex_timeout: expected a duration/m);
      assert.match(r.out, /^ {2}plugins\[0\]\.lists\.blank: expected a string of at least 1 characters/m);
      assert.match(r.out, /^ {2}plugins\[0\]\.lists\.vips: cannot read .*no-such-list\.txt: ENOENT$/m);
      assert.match(r.out, /: 3 error\(s\)/, 'nothing about the blank list file beyond its schema error');
    });

    it('drops what a check says about an option in error: it saw no value there, not the one the admin wrote', () => {
      // A check that reports an option it was given no value for, as a check may when the schema left the value out.
      writeFileSync(path.join(dir, 'two-files.ts'), [
        `import { readFileSync } from 'node:fs';`,
        `import path from 'node:path';`,
        `import { s } from '${CORE}';`,
        'export default {',
        `  name: 'two-files', description: 'reads two files at start',`,
        `  configSchema: s.object({ first: s.string().optionalValue(), second: s.string().optionalValue() }),`,
        '  create: () => ({ hooks: {} }),',
        '  check(cfg: Record<string, string | undefined>, setup: { configDir: string }) {',
        "    return (['first', 'second'] as const).flatMap((key) => {",
        '      const name = cfg[key];',
        '      if (name === undefined) return [{ path: key, message: \'no file named\' }];',
        '      try { readFileSync(path.resolve(setup.configDir, name)); return []; } catch { return [{ path: key, message: `cannot read ${name}` }]; }',
        '    });',
        '  },',
        '};',
        '',
      ].join('\n'));
      const r = checkConfig('domains: [example.com]\nplugins:\n  - name: two-files\n    module: ./two-files.ts\n    first: [a, b]\n    second: absent.txt\n');
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /^ {2}plugins\[0\]\.first: expected a string, got a list$/m);
      assert.match(r.out, /^ {2}plugins\[0\]\.second: cannot read absent\.txt$/m);
      assert.doesNotMatch(r.out, /no file named/);
      assert.match(r.out, /: 2 error\(s\)/);
    });

    it('says which errors kept a check from running on an entry, and does not stop at it', () => {
      writePlugin();
      const r = checkConfig('domains: [example.com]\nplugins:\n  - name: rules\n    lists: "not a mapping"\n  - name: file-plugin\n    module: ./file-plugin.ts\n    file: absent.txt\n');
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /^ {2}plugins\[0\]\.lists: expected a mapping/m);
      assert.match(r.out, /^ {2}plugins\[0\]: the rules plugin's check could not run on these options while plugins\[0\]\.lists is in error \(.+\); mend it and run check-config again$/m);
      assert.match(r.out, /^ {2}plugins\[1\]\.file: cannot read .*absent\.txt: ENOENT$/m);
      assert.match(r.out, /: 3 error\(s\)/);
    });

    it('a data_dir in error is only listed, not given to the checks that need it', () => {
      // Two bayes entries under one name would add a warning naming plugins[1], which this test takes for a check that
      // ran: the first loads the plugin by its file under a name of its own.
      const bayes = path.resolve(import.meta.dirname, '..', '..', 'plugins', 'bayes', 'index.ts');
      const r = checkConfig(`domains: [example.com]\nplugins:\n  - name: bayes-in-error\n    module: ${bayes}\n    seed: [a, b]\n  - name: bayes\n    seed: ./no-such-seed.tab\n`, ['data_dir=[not, a, path]']);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /^ {2}data_dir: expected a string/m);
      assert.match(r.out, /^ {2}plugins\[0\]\.seed: expected a string/m);
      assert.doesNotMatch(r.out, /check failed|plugins\[1\]/, 'the second entry needs data_dir, which is in error');
      assert.match(r.out, /: 2 error\(s\)/);
    });

    it('creates no plugin: nothing is written under data_dir', () => {
      const r = checkConfig('domains: [example.com]\nplugins:\n  - name: bayes\n');
      assert.equal(r.code, 0, r.out);
      assert.equal(existsSync(path.join(dir, 'data')), false, 'check-config seeded or opened something in data_dir');
    });
  });
});
