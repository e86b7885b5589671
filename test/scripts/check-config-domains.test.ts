// `moat check-config` warns (never fails) about a domain the config names in one place and not another: each such
// config starts, and fails that domain's mail alone without a word.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const MOAT = path.resolve(import.meta.dirname, '..', '..', 'scripts', 'moat.js');

describe('moat check-config: domains named in one place and missing from another', function () {
  this.timeout(30_000);
  let dir: string;
  before(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-check-domains-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function checkConfig(yaml: string): { code: number; out: string; warnings: string[] } {
    const file = path.join(dir, 'mailmoat.yaml');
    writeFileSync(file, `data_dir: ./data\n${yaml}`);
    const r = spawnSync(process.execPath, [MOAT, 'check-config', '--config', file], { encoding: 'utf8', cwd: os.tmpdir() });
    return { code: r.status ?? -1, out: r.stdout + r.stderr, warnings: r.stderr.split('\n').filter((l) => l.startsWith('warning: ')) };
  }

  it('a domain in domains with no address in access.recipients_file: every recipient would get 550 5.1.1', () => {
    const recipients = path.join(dir, 'recipients');
    writeFileSync(recipients, '# the mail server\'s users\nalice@example.com\n@Bücher.example\n');
    const r = checkConfig(`domains: [example.com, new.example, xn--bcher-kva.example]\naccess:\n  recipients_file: ${recipients}\n`);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /: OK$/m);
    assert.deepEqual(r.warnings, [
      `warning: domains[1]: "new.example" has no address in access.recipients_file (${recipients}): every recipient at it gets 550 5.1.1 User unknown; add its addresses, or @new.example for all of them`,
    ]);
  });

  it('a rules to: domain outside domains, while no client may relay (a route there is no warning: it carries the gateway\'s own notices); not once relay.networks is set', () => {
    const yaml = 'domains: [example.com]\nroutes:\n  partner.example: smtp://127.0.0.1:2626\n  .example.com: default\n  "*": mx\n'
      + 'plugins:\n  - name: rules\n    rules:\n      - name: partner\n        when: { not: { to: { domain: [partner.example, example.com] } } }\n        actions: [{ score: 1 }]\n';
    const r = checkConfig(yaml);
    assert.equal(r.code, 0, r.out);
    assert.equal(r.warnings.length, 1, r.out);
    assert.match(r.warnings[0], /^warning: plugins\[0\]\.rules\[0\] \(partner\): to: \{ domain: "partner\.example" \} is not in domains and no client may relay .*; the rule never holds for it$/);
    const relaying = checkConfig(`${yaml}relay:\n  networks: [10.0.0.0/8]\n`);
    assert.equal(relaying.code, 0, relaying.out);
    assert.deepEqual(relaying.warnings, [], 'outbound mail may take that route and meet that rule');
  });

  it('quarantine_digest.domains and a bayes recipient dictionary naming a domain outside domains; a dkim.domains one is no warning (signing only)', () => {
    const keyFile = path.join(dir, 'dkim.pem');
    writeFileSync(keyFile, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(path.join(dir, 'dict.tab'), '0\t0\n');
    const r = checkConfig(`domains: [example.com]\nrelay:\n  networks: [10.0.0.0/8]\n`
      + `quarantine_digest:\n  domains: [example.com, gone.example]\n`
      + `dkim:\n  domains:\n    example.com: { selector: s1, key_file: ${keyFile} }\n    brand.example: { selector: s1, key_file: ${keyFile} }\n`
      + 'plugins:\n  - name: bayes\n    dictionary: ./dict.tab\n    recipient_dictionaries:\n      - { recipients: ["@example.com", "ceo@board.example"], dictionary: ./ceo.tab }\n');
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(r.warnings, [
      'warning: quarantine_digest.domains[1]: "gone.example" is not in domains: mail from outside to it is refused, so its recipients have nothing quarantined to be told of',
      'warning: plugins[0].recipient_dictionaries[0].recipients[1]: "board.example" is not in domains: mail from outside to it is refused, so this dictionary sees none of it',
    ]);
  });

  it('a config whose domains agree everywhere gets no warning', () => {
    const recipients = path.join(dir, 'recipients-all');
    writeFileSync(recipients, 'alice@example.com\nbob@example.net\n');
    const r = checkConfig(`domains: [example.com, example.net]\naccess:\n  recipients_file: ${recipients}\nroutes:\n  example.net: smtp://127.0.0.1:2626\n  .example.com: default\nquarantine_digest:\n  domains: [example.net]\n`);
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(r.warnings, [], r.out);
  });
});
