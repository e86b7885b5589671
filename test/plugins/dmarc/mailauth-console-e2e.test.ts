// What mailauth prints while it verifies (`TOTAL n EXPECTING l` for a DKIM signature whose l= is longer than the body),
// through a real gateway, a real DNS server on loopback and a real smarthost: it is a debug record of the message's
// log naming its source, and nothing of it reaches the console; the console itself still prints for everyone else.
import assert from 'node:assert/strict';
import { capture } from '../../helpers/console-capture.ts';
import { message, sign } from './mail-fixtures.ts';
import { useDmarcBed } from './auth-bed.ts';

describe('dmarc: mailauth\'s own output', function () {
  this.timeout(20_000);
  const bed = useDmarcBed((key) => ({
    'sender.test': {
      '@': { TXT: ['v=spf1 ip4:198.51.100.9 -all'] },
      'sel._domainkey': { TXT: [key.dnsRecord] },
      '_dmarc': { TXT: ['v=DMARC1; p=none'] },
    },
  }), [{ name: 'spf' }, { name: 'dmarc' }]);

  it('logs the line mailauth prints for an l= beyond the body at debug with source mailauth, and prints nothing', async () => {
    const body = 'First line of the body.\r\nSecond line, which the message loses on its way.\r\n';
    const signed = await sign(message({ from: 'alice@sender.test', subject: 'cut-short', body }), 'sender.test', 'sel', bed.key, { maxBodyLength: body.length });
    assert.match(signed.toString('latin1'), new RegExp(`\\bl=${body.length};`), 'the signature covers the whole body');
    // The message as a relay that dropped its last line passes it on: l= now says more than there is.
    const cut = signed.subarray(0, signed.length - 'Second line, which the message loses on its way.\r\n'.length);

    let qid = '';
    const printed = await capture(async () => {
      const r = await bed.send('bounce@sender.test', cut);
      assert.equal(r.code, 250, r.text);
      qid = /queued as (\S+)/.exec(r.text)![1];
      // Outside a verification the console is everyone's as before, including once the dmarc plugin has run.
      console.log('a plugin author\'s own line');
      return 0;
    });
    assert.doesNotMatch(printed.out, /TOTAL|EXPECTING/, printed.out);
    assert.match(printed.out, /a plugin author's own line/);

    const logs = bed.gw.gw.logs;
    const line = logs.find((l) => l.msg === 'library output' && l.qid === qid);
    assert.ok(line, 'a library output record for the message');
    assert.equal(line.level, 'debug');
    assert.equal(line.source, 'mailauth');
    assert.equal(line.plugin, 'dmarc');
    assert.match(String(line.text), new RegExp(`^TOTAL \\d+ EXPECTING ${body.length}$`));
    const summary = logs.find((l) => l.msg === 'message' && l.qid === qid);
    // The signature is still judged: its body hash no longer matches.
    assert.ok((summary?.symbols as string[]).some((s) => s.startsWith('DKIM_FAIL')), String(summary?.symbols));
  });
});
