// Two gateways sharing one Redis make one report: each records the messages it receives, `moat dmarc report --now`
// is answered by one of them, and the report counts the messages of both.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { stringify } from 'yaml';
import { capture } from '../../helpers/console-capture.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { run } from '../../../scripts/cli/dmarc.ts';
import type { ReportAnswer } from '../../../plugins/dmarc/report-request.ts';
import { openSession, startAuthGateway, type AuthGateway } from '../spf/e2e-setup.ts';
import { message } from './mail-fixtures.ts';
import { all, readReport, schemaProblems, textAt } from './aggregate-schema.ts';

const REPORTING = { enabled: true, org_name: 'Receiver Org', email: 'dmarc-reports@receiver.test' };
const ZONES = {
  'shared.test': {
    '@': { TXT: ['v=spf1 ip4:203.0.113.0/24 -all'] },
    '_dmarc': { TXT: ['v=DMARC1; p=none; rua=mailto:dmarc@shared.test'] },
  },
};

async function send(gw: AuthGateway, subject: string): Promise<void> {
  const c = await openSession(gw.gw.port, '203.0.113.7', 'mail.shared.test');
  try {
    assert.equal((await c.cmd('MAIL FROM:<bounce@shared.test>')).code, 250);
    assert.equal((await c.cmd('RCPT TO:<bob@receiver.test>')).code, 250);
    assert.equal((await c.data(message({ from: 'alice@shared.test', subject }))).code, 250);
  } finally {
    await c.quit();
  }
}

describe('dmarc aggregate reports from gateways sharing Redis', function () {
  this.timeout(90_000);
  let redis: RedisHandle;
  const gateways: AuthGateway[] = [];

  before(async () => {
    redis = await startRedis();
    const state = { backend: 'redis', redis: { url: redis.url } };
    for (let i = 0; i < 2; i++) gateways.push(await startAuthGateway(ZONES, [{ name: 'spf' }, { name: 'dmarc', reporting: REPORTING }], { state }));
  });

  after(async () => {
    for (const gw of gateways) await gw.stop();
    await redis?.stop();
  });

  it('sends one report counting the messages both received', async () => {
    await send(gateways[0], 'shared-1');
    await send(gateways[0], 'shared-2');
    await send(gateways[1], 'shared-3');
    const cliConfig = path.join(gateways[0].gw.dataDir, 'moat-cli.yaml');
    writeFileSync(cliConfig, stringify({
      server: { hostname: 'mx.receiver.test' }, domains: ['receiver.test'], data_dir: gateways[0].gw.dataDir,
      state: { backend: 'redis', redis: { url: redis.url } },
      plugins: [{ name: 'dmarc', reporting: REPORTING }],
    }));
    const { code, out } = await capture(() => run(['report', '--now', '--config', cliConfig, '--json', '--timeout', '30s']));
    assert.equal(code, 0, out);
    const answer = JSON.parse(out) as ReportAnswer;
    assert.deepEqual(answer.reports.map((r) => [r.domain, r.messages, r.records]), [['shared.test', 3, 1]]);

    const isReport = (m: { raw: Buffer; rcptTo: string[] }) => m.rcptTo.includes('dmarc@shared.test');
    const arrived = await waitFor('the report at one of the smarthosts', () => {
      const got = gateways.flatMap((g) => g.gw.sink.messages.filter(isReport));
      return got.length ? got : undefined;
    }, 20_000);
    assert.equal(arrived.length, 1, 'one report, not one per gateway');
    const mail = await simpleParser(arrived[0].raw);
    const { root } = readReport(mail.attachments[0].content);
    assert.deepEqual(schemaProblems(root), []);
    const records = all(root, 'record');
    assert.equal(records.length, 1);
    assert.equal(textAt(records[0], 'row/source_ip'), '203.0.113.7');
    assert.equal(textAt(records[0], 'row/count'), '3');
    assert.deepEqual(['disposition', 'dkim', 'spf'].map((k) => textAt(records[0], `row/policy_evaluated/${k}`)), ['none', 'fail', 'pass']);
  });
});
