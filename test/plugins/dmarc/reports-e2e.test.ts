// Aggregate reports end to end: a real gateway with spf and dmarc (reporting on) over a loopback DNS server whose
// domains ask for reports, messages sent to it over SMTP, then `moat dmarc report --now`; the reports arrive at the
// recording smarthost, and are unpacked and read as a report processor would.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { simpleParser, type ParsedMail } from 'mailparser';
import { stringify } from 'yaml';
import { capture } from '../../helpers/console-capture.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { run } from '../../../scripts/cli/dmarc.ts';
import type { ReportAnswer } from '../../../plugins/dmarc/report-request.ts';
import { useDmarcBed } from './auth-bed.ts';
import { message, sign } from './mail-fixtures.ts';
import { all, nodeAt, readReport, schemaProblems, textAt, type XmlNode } from './aggregate-schema.ts';

const REPORTING = { enabled: true, org_name: 'Receiver Org', email: 'dmarc-reports@receiver.test' };

interface Report { mail: ParsedMail; mailFrom: string; to: string; file: string; xml: string; root: XmlNode }

/** The record of `root` whose row has `ip` and whose header_from is `from`. */
function recordOf(root: XmlNode, ip: string, from: string): XmlNode {
  const r = all(root, 'record').find((x) => textAt(x, 'row/source_ip') === ip && textAt(x, 'identifiers/header_from') === from);
  assert.ok(r, `a record for ${ip} with header_from ${from}`);
  return r;
}

/** A message shaped as another receiver's aggregate report: it must not be reported on in turn. */
function reportShaped(): Buffer {
  const gz = gzipSync('<feedback></feedback>').toString('base64');
  return Buffer.from([
    'From: noreply-dmarc@sender.test', 'To: dmarc@receiver.test',
    'Subject: Report Domain: receiver.test Submitter: sender.test Report-ID: <r1@sender.test>',
    'Date: Sat, 21 Nov 2026 10:00:00 +0000', 'Message-ID: <r1@sender.test>', 'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b"', '', '--b', 'Content-Type: application/gzip; name="sender.test!receiver.test!1!2.xml.gz"',
    'Content-Transfer-Encoding: base64', '', gz, '--b--', '',
  ].join('\r\n'));
}

describe('dmarc aggregate reports end to end', function () {
  this.timeout(60_000);
  const bed = useDmarcBed((key) => ({
    'sender.test': {
      '@': { TXT: ['v=spf1 ip4:203.0.113.0/24 -all'] },
      'sel._domainkey': { TXT: [key.dnsRecord] },
      '_dmarc': { TXT: ['v=DMARC1; p=reject; aspf=s; fo=1; rua=mailto:dmarc@sender.test'] },
    },
    'soft.test': { '@': { TXT: ['v=spf1 ~all'] } },
    'extern.test': { '_dmarc': { TXT: ['v=DMARC1; p=none; rua=mailto:agg@reports.test'] } },
    'noauth.test': { '_dmarc': { TXT: ['v=DMARC1; p=none; rua=mailto:agg@reports.test'] } },
    'small.test': { '_dmarc': { TXT: ['v=DMARC1; p=none; rua=mailto:tiny@small.test!1k,mailto:big@small.test!10m'] } },
    // Only extern.test has reports.test's leave to send it reports (RFC 7489 7.1).
    'reports.test': { 'extern.test._report._dmarc': { TXT: ['v=DMARC1'] } },
    'nodmarc.test': { '@': { TXT: ['v=spf1 -all'] } },
  }), [
    { name: 'spf' },
    { name: 'dmarc', enforce: true, reporting: REPORTING },
  ]);

  let cliConfig: string;
  let answer: ReportAnswer;
  const reports: Report[] = [];
  const report = (domain: string) => {
    const r = reports.find((x) => x.mail.subject?.startsWith(`Report Domain: ${domain} `));
    assert.ok(r, `a report about ${domain} arrived`);
    return r;
  };

  before(async () => {
    const gw = bed.gw.gw;
    cliConfig = path.join(gw.dataDir, 'moat-cli.yaml');
    writeFileSync(cliConfig, stringify({
      server: { hostname: 'mx.receiver.test' }, domains: ['receiver.test'], data_dir: gw.dataDir,
      plugins: [{ name: 'spf' }, { name: 'dmarc', enforce: true, reporting: REPORTING }],
    }));
    const signed = async (from: string, subject: string) => sign(message({ from, subject }), 'sender.test', 'sel', bed.key);
    const sent = [
      // Two alike from an authorised host: one record counting 2.
      await bed.send('bounce@sender.test', await signed('alice@sender.test', 'r-pass-1'), { ip: '203.0.113.5', helo: 'mail.sender.test' }),
      await bed.send('bounce@sender.test', await signed('alice@sender.test', 'r-pass-2'), { ip: '203.0.113.5', helo: 'mail.sender.test' }),
      // A subdomain without a record of its own: reported to the organisational domain's rua.
      await bed.send('bounce@sender.test', await signed('news@news.sender.test', 'r-sub'), { ip: '203.0.113.5', helo: 'mail.sender.test' }),
      // A spoof: refused (550) under p=reject and enforce.
      await bed.send('bounce@soft.test', message({ from: 'alice@sender.test', subject: 'r-spoof' })),
      await bed.send('x@extern.test', message({ from: 'bob@extern.test', subject: 'r-extern' })),
      await bed.send('x@noauth.test', message({ from: 'bob@noauth.test', subject: 'r-noauth' })),
      await bed.send('x@small.test', message({ from: 'bob@small.test', subject: 'r-small' })),
      // No record: nothing to report.
      await bed.send('x@nodmarc.test', message({ from: 'bob@nodmarc.test', subject: 'r-nodmarc' })),
      await bed.send('bounce@sender.test', await sign(reportShaped(), 'sender.test', 'sel', bed.key), { ip: '203.0.113.5', helo: 'mail.sender.test' }),
    ];
    assert.deepEqual(sent.map((r) => r.code), [250, 250, 250, 550, 250, 250, 250, 250, 250], sent.map((r) => r.text).join(' | '));

    const { code, out } = await capture(() => run(['report', '--now', '--config', cliConfig, '--json', '--timeout', '30s']));
    assert.equal(code, 0, out);
    answer = JSON.parse(out) as ReportAnswer;
    const expected = answer.reports.reduce((n, r) => n + r.sent.length, 0);
    const arrived = await waitFor(`${expected} reports at the smarthost`, () => {
      // The report-shaped message went on to its own recipient too.
      const got = gw.sink.messages.filter((m) => m.raw.includes('Report Domain:') && !m.rcptTo.includes('bob@receiver.test'));
      return got.length >= expected ? got : undefined;
    }, 20_000);
    for (const m of arrived) {
      const mail = await simpleParser(m.raw);
      assert.equal(mail.attachments.length, 1, 'one attachment');
      const { xml, root } = readReport(mail.attachments[0].content);
      reports.push({ mail, mailFrom: m.mailFrom, to: m.rcptTo.join(','), file: mail.attachments[0].filename ?? '', xml, root });
    }
  });

  it('answers --now with a report for each policy domain that asked for one, and none for a domain without a record', () => {
    assert.deepEqual(answer.reports.map((r) => r.domain).sort(), ['extern.test', 'noauth.test', 'sender.test', 'small.test']);
    assert.equal(answer.failed.length, 0);
    assert.equal(answer.by, 'mx.receiver.test');
    assert.equal(reports.length, 3, 'sender.test, extern.test and small.test get one each; noauth.test none');
  });

  it('writes reports that follow RFC 7489 Appendix C, element by element', () => {
    for (const r of reports) assert.deepEqual(schemaProblems(r.root), [], `${r.file}:\n${r.xml}`);
  });

  it('has a schema check that finds what breaks the schema (so its silence above means something)', () => {
    const broken = report('sender.test').xml
      .replace(/<sp>[a-z]+<\/sp>/, '')
      .replace('<disposition>none</disposition>', '<disposition>discard</disposition>')
      .replace(/(<envelope_from>[^<]*<\/envelope_from>)(<header_from>[^<]*<\/header_from>)/, '$2$1')
      .replace('<source_ip>203.0.113.5</source_ip>', '<source_ip>2001:db8::5</source_ip>');
    const problems = schemaProblems(readReport(gzipSync(broken)).root);
    for (const expected of [/policy_published: sp missing/, /disposition: "discard" is none of/, /identifiers: envelope_from missing or out of order/, /source_ip: not an IPAddress/]) {
      assert.ok(problems.some((p) => expected.test(p)), `${expected} among ${problems.join('; ')}`);
    }
  });

  it('mails the gzipped report as multipart/mixed from <> with the RFC 7489 7.2.1.1 Subject and file name', () => {
    const r = report('sender.test');
    assert.equal(r.to, 'dmarc@sender.test');
    assert.equal(r.mailFrom, '', 'the null sender: a report is never bounced back');
    assert.equal((r.mail.headers.get('content-type') as { value: string }).value, 'multipart/mixed');
    assert.equal(r.mail.headers.get('auto-submitted'), 'auto-generated');
    assert.equal(r.mail.from?.value[0].address, 'dmarc-reports@receiver.test');
    const id = textAt(r.root, 'report_metadata/report_id');
    assert.equal(r.mail.subject, `Report Domain: sender.test Submitter: receiver.test Report-ID: <${id}>`);
    const begin = textAt(r.root, 'report_metadata/date_range/begin');
    const end = textAt(r.root, 'report_metadata/date_range/end');
    assert.equal(r.file, `receiver.test!sender.test!${begin}!${end}.xml.gz`);
    assert.equal(r.mail.attachments[0].contentType, 'application/gzip');
    assert.ok(Number(begin) <= Number(end) && Number(end) <= Date.now() / 1000, `date_range ${begin}..${end}`);
    assert.equal(textAt(r.root, 'report_metadata/org_name'), 'Receiver Org');
    assert.equal(textAt(r.root, 'report_metadata/email'), 'dmarc-reports@receiver.test');
  });

  it('reports the policy as published, and counts alike messages in one record', () => {
    const root = report('sender.test').root;
    const published = Object.fromEntries(['domain', 'adkim', 'aspf', 'p', 'sp', 'pct', 'fo'].map((k) => [k, textAt(root, `policy_published/${k}`)]));
    assert.deepEqual(published, { domain: 'sender.test', adkim: 'r', aspf: 's', p: 'reject', sp: 'reject', pct: '100', fo: '1' });
    assert.equal(all(root, 'record').length, 3, 'the pass, the subdomain and the spoof; the report-shaped message is not counted');
    const pass = recordOf(root, '203.0.113.5', 'sender.test');
    assert.equal(textAt(pass, 'row/count'), '2');
    assert.deepEqual(['disposition', 'dkim', 'spf'].map((k) => textAt(pass, `row/policy_evaluated/${k}`)), ['none', 'pass', 'pass']);
    assert.equal(textAt(pass, 'identifiers/envelope_from'), 'sender.test');
    assert.deepEqual(['domain', 'selector', 'result'].map((k) => textAt(pass, `auth_results/dkim/${k}`)), ['sender.test', 'sel', 'pass']);
    assert.deepEqual(['domain', 'scope', 'result'].map((k) => textAt(pass, `auth_results/spf/${k}`)), ['sender.test', 'mfrom', 'pass']);
  });

  it('reports a subdomain under its organisational domain\'s policy, with its own header_from and strict SPF alignment', () => {
    const sub = recordOf(report('sender.test').root, '203.0.113.5', 'news.sender.test');
    assert.equal(textAt(sub, 'row/count'), '1');
    // aspf=s: sender.test's SPF pass does not align with news.sender.test; the DKIM signature of sender.test does (adkim=r).
    assert.deepEqual(['disposition', 'dkim', 'spf'].map((k) => textAt(sub, `row/policy_evaluated/${k}`)), ['none', 'pass', 'fail']);
  });

  it('reports a refused spoof with the disposition the gateway applied', () => {
    const spoof = recordOf(report('sender.test').root, '198.51.100.9', 'sender.test');
    assert.equal(textAt(spoof, 'row/count'), '1');
    assert.deepEqual(['disposition', 'dkim', 'spf'].map((k) => textAt(spoof, `row/policy_evaluated/${k}`)), ['reject', 'fail', 'fail']);
    assert.equal(all(nodeAt(spoof, 'row/policy_evaluated'), 'reason').length, 0, 'enforced as asked: no override reason');
    assert.equal(textAt(spoof, 'identifiers/envelope_from'), 'soft.test');
    assert.equal(all(nodeAt(spoof, 'auth_results'), 'dkim').length, 0, 'unsigned: no dkim result');
    assert.deepEqual(['domain', 'scope', 'result'].map((k) => textAt(spoof, `auth_results/spf/${k}`)), ['soft.test', 'mfrom', 'softfail']);
  });

  it('sends to an external destination that authorises the policy domain', () => {
    const r = report('extern.test');
    assert.equal(r.to, 'agg@reports.test');
    const rec = recordOf(r.root, '198.51.100.9', 'extern.test');
    assert.deepEqual(['disposition', 'dkim', 'spf'].map((k) => textAt(rec, `row/policy_evaluated/${k}`)), ['none', 'fail', 'fail']);
  });

  it('sends nothing to an external destination without the _report._dmarc record, and says why', () => {
    assert.ok(!reports.some((r) => r.mail.subject?.includes('noauth.test')), 'no report about noauth.test was mailed');
    const noauth = answer.reports.find((r) => r.domain === 'noauth.test');
    assert.deepEqual(noauth?.sent, []);
    assert.match(noauth?.skipped[0]?.why ?? '', /external destination not authorised: .*noauth\.test\._report\._dmarc\.reports\.test/);
    assert.ok(bed.gw.gw.logs.some((l) => l.msg === 'dmarc report destination skipped' && l.domain === 'noauth.test'), 'the skip is logged');
  });

  it('honours a destination\'s size limit: !1k gets nothing, !10m the report', () => {
    const r = report('small.test');
    assert.equal(r.to, 'big@small.test');
    const small = answer.reports.find((x) => x.domain === 'small.test')!;
    assert.deepEqual(small.sent.map((s) => s.address), ['big@small.test']);
    assert.equal(small.skipped.length, 1);
    assert.equal(small.skipped[0].uri, 'mailto:tiny@small.test!1k');
    assert.match(small.skipped[0].why, /^report of \d+ bytes is over the destination's limit of 1024 bytes$/);
  });

  it('reports nothing twice: a second --now finds no pending records', async () => {
    const { code, out } = await capture(() => run(['report', '--now', '--config', cliConfig, '--timeout', '30s']));
    assert.equal(code, 0, out);
    assert.match(out, /^no pending records \(answered by mx\.receiver\.test\)$/);
  });
});
