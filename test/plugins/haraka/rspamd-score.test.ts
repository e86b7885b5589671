// haraka-plugin-rspamd (from npm, unchanged) keeps rspamd's score in its results: it reaches Mailmoat's verdict only
// through the entry's `score_factors` (HARAKA_RSPAMD_SCORE, the score times the factor); without one, rspamd's own
// headers and actions are all it does. A real gateway, the plugin talking HTTP to a stand-in rspamd on loopback.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import harakaPlugin from '../../../plugins/haraka/index.ts';
import type { Issue } from '../../../core/index.ts';
import { SmtpDialog, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { useFolderGateway, type FolderSpec } from './folder-gateway.ts';

/** A stand-in for rspamd's /checkv2: the score is the number in the message's Subject, the action always `add header`. */
function useFakeRspamd(specs: FolderSpec[]): void {
  let server: http.Server;
  before(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('latin1');
      req.on('data', (c: string) => { body += c; });
      req.on('end', () => {
        const score = Number(/^Subject: score (\S+)\r?$/m.exec(body)?.[1] ?? 0);
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ action: 'add header', score, required_score: 15, symbols: { FAKE_SPAM: { name: 'FAKE_SPAM', score } } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    for (const spec of specs) spec.config['rspamd.ini'] = `host=127.0.0.1\nport=${port}\n\n[header]\nscore=X-Rspamd-Score\n`;
  });
  after(() => new Promise<void>((resolve) => { server?.close(() => resolve()); }));
}

const spec = (entry: Record<string, unknown>): FolderSpec => ({ config: { plugins: 'rspamd\n', 'log.ini': '[main]\nlevel=WARN\n' }, entry });

describe('haraka shim: rspamd\'s score and the verdict', function () {
  this.timeout(30_000);
  const scored = spec({ score_factors: { rspamd: 1 } });
  const unscored = spec({});
  // Before the gateways' own hooks: they write the folders from these specs.
  useFakeRspamd([scored, unscored]);
  const withFactor = useFolderGateway('haraka-rspamd-scored', scored);
  const withoutFactor = useFolderGateway('haraka-rspamd-unscored', unscored);

  /** One message from a public client (rspamd skips private ones) whose Subject carries the score. */
  async function send(port: number, score: number): Promise<SmtpReply> {
    const d = await SmtpDialog.connect(port);
    try {
      await d.hello({ helo: 'mail.example.org', xclient: { addr: '93.184.216.1', helo: 'mail.example.org' } });
      assert.equal((await d.cmd('MAIL FROM:<alice@example.org>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<bob@example.test>')).code, 250);
      return await d.data(['From: alice@example.org', 'To: bob@example.test', `Subject: score ${score}`, `Message-ID: <${score}-${Date.now()}@example.org>`, '', 'hello', ''].join('\r\n'));
    } finally {
      await d.quit();
    }
  }

  it('with score_factors, HARAKA_RSPAMD_SCORE carries the score into the verdict', async () => {
    const r = await send(withFactor.gw.port, 7.5);
    assert.equal(r.code, 250, r.text);
    const raw = await withFactor.gw.sink.waitForText('Subject: score 7.5');
    assert.match(raw, /^X-Mailmoat-Verdict: .*symbols=.*HARAKA_RSPAMD_SCORE\(7\.5\)/m);
    assert.match(raw, /^X-Rspamd-Score: 7\.5\r$/m);
  });

  it('with score_factors, a score at the verdict\'s reject threshold refuses the message, though rspamd only said "add header"', async () => {
    const r = await send(withFactor.gw.port, 16);
    assert.equal(r.code, 550, r.text);
  });

  it('without score_factors, the score reaches no finding: the same message is relayed with rspamd\'s header alone', async () => {
    const r = await send(withoutFactor.gw.port, 16);
    assert.equal(r.code, 250, r.text);
    const raw = await withoutFactor.gw.sink.waitForText('Subject: score 16');
    assert.match(raw, /^X-Rspamd-Score: 16\r$/m);
    assert.doesNotMatch(raw, /HARAKA_RSPAMD/);
  });

  it('refuses a factor for karma, whose score karma_factor already scores', () => {
    const issues: Issue[] = [];
    harakaPlugin.configSchema.parse({ dir: 'haraka', score_factors: { karma: 1, rspamd: 0.5 } }, 'plugins[0]', issues);
    assert.deepEqual(issues, [{ path: 'plugins[0].score_factors.karma', message: 'karma\'s score is scored by karma_factor' }]);
  });
});
