// `moat check-config` on the rules' lists, as an Rspamd admin wrote them: an IP list's bad lines refused by file and
// line, an address list's IP line warned of (the config still OK), and criteria given a list or a mapping they cannot
// take answered in words, never `[object Object]`.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { moat, type Ran } from '../../scripts/moat-cli.ts';

describe('moat check-config: rules lists', function () {
  this.timeout(30_000);
  let dir: string;
  before(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-rule-list-check-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const file = (name: string, text: string) => { writeFileSync(path.join(dir, name), text); return path.join(dir, name); };

  function checkConfig(rules: Record<string, unknown>): Promise<Ran> {
    const config = path.join(dir, 'mailmoat.yaml');
    writeFileSync(config, stringify({ data_dir: path.join(dir, 'data'), domains: ['example.com'], plugins: [{ name: 'rules', ...rules }] }));
    return moat(['check-config', '--config', config]);
  }

  it('refuses an IP list with lines that are no address or network, naming each by file and line', async () => {
    const ips = file('ips.txt', '# blocked\n192.0.2.0/24\n10.0.0.0/33\nbad.example\n2001:db8::1\n');
    const r = await checkConfig({ lists: { blocked: 'ips.txt' }, rules: [{ name: 'ip', when: { client_ip: { list: 'blocked' } }, actions: ['reject'] }] });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /: 1 error\(s\)/);
    assert.ok(r.stderr.includes(`  plugins[0].lists.blocked: ${ips}:3: not an IP address or CIDR: 10.0.0.0/33; ${ips}:4: not an IP address or CIDR: bad.example, `
      + 'and this list is named by client_ip: list addresses and domains in a list of their own, named by from or to\n'), r.stderr);
  });

  it('takes an address list with an IP line, warning of that line by file and line', async () => {
    const senders = file('senders.txt', 'spammer@bad.example\n\n192.0.2.0/24\n.spam.example\n*@glob.example\n');
    const r = await checkConfig({ lists: { senders: 'senders.txt' }, rules: [{ name: 's', when: { from: { list: 'senders' } }, actions: ['reject'] }] });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /: OK$/m);
    assert.ok(r.stderr.includes(`warning: plugins[0].lists.senders: ${senders}:3: "192.0.2.0/24" is an IP network, which never matches in a list of addresses and domains: `
      + `list IP addresses in a list of their own, named by client_ip; ${senders}:5: "*@glob.example" is a pattern, and list entries are compared whole: `
      + 'write .example.org for a domain and its subdomains\n'), r.stderr);
  });

  it('answers a header or subject list, a mapping given to client_ip, and one list named two ways, in words', async () => {
    file('ips2.txt', '192.0.2.1\n');
    const r = await checkConfig({
      lists: { blocked: 'ips2.txt' },
      rules: [
        { name: 'hdr', when: { header: { name: 'X-Mailer', list: 'blocked' } }, actions: ['reject'] },
        { name: 'subj', when: { subject: { list: 'blocked' } }, actions: ['reject'] },
        { name: 'ip-file', when: { client_ip: { file: 'ips2.txt' } }, actions: ['reject'] },
        { name: 'ip', when: { client_ip: ['198.51.100.0/24', { list: 'blocked' }] }, actions: ['reject'] },
        { name: 'both', when: { from: { list: 'blocked' } }, actions: ['reject'] },
      ],
    });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.doesNotMatch(r.stderr, /object Object/);
    const regexesInRule = 'takes no list: a list file holds addresses and domains (from, to) or IP addresses and networks (client_ip), not regexes, '
      + 'which are written in the rule (one regex with alternatives, a|b, or several criteria under any)';
    assert.ok(r.stderr.includes(`  plugins[0].rules[0] (name "hdr").when.header.list: ${regexesInRule}\n`), r.stderr);
    assert.ok(r.stderr.includes(`  plugins[0].rules[1] (name "subj").when.subject.list: ${regexesInRule}\n`), r.stderr);
    assert.ok(r.stderr.includes('  plugins[0].rules[2] (name "ip-file").when.client_ip: expected an IP address or network (192.0.2.0/24), '
      + '{ list: NAME } naming a list file of them, or a list of those; got a mapping with key file\n'), r.stderr);
    assert.ok(r.stderr.includes('  plugins[0].rules[4] (name "both").when.from.list: blocked is read as IP addresses and networks (named by client_ip) '
      + 'at plugins[0].rules[3] (name "ip").when.client_ip[1].list, and a list file holds one kind: declare another list under lists for addresses and domains (named by from or to)\n'), r.stderr);
    assert.match(r.stderr, /: 4 error\(s\)/);
  });

  it('refuses two list names that differ only in case, and a list_check a few milliseconds apart', async () => {
    file('a.txt', 'a@example.org\n');
    const r = await checkConfig({ lists: { vip: 'a.txt', VIP: 'a.txt' }, list_check: '5ms' });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.ok(r.stderr.includes('  plugins[0].lists.VIP: is the name of lists.vip, as criteria compare list names (case ignored): give one another name\n'), r.stderr);
    assert.ok(r.stderr.includes('  plugins[0].list_check: must be 0 (look only at start and reload) or at least 100ms\n'), r.stderr);
  });
});
