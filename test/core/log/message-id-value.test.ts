// The Message-ID value the log lines carry (pure logic): trimmed, decoded from UTF-8, controls written out, capped;
// and a text-format line with a hostile one stays one line.
import assert from 'node:assert/strict';
import { JsonLogger } from '../../../core/log/logger.ts';
import { loggedMessageId, messageIdOfHeaderBlock, MESSAGE_ID_MAX } from '../../../core/smtp/logged-message-id.ts';

/** A header value as the gateway reads it: one latin1 character per byte of what the client sent. */
const asReceived = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

describe('the Message-ID as the log carries it', () => {
  it('is absent for a missing or empty field, and the trimmed value otherwise', () => {
    assert.equal(loggedMessageId(undefined), undefined);
    assert.equal(loggedMessageId(''), undefined);
    assert.equal(loggedMessageId(' \t '), undefined);
    assert.equal(loggedMessageId('  <a.1@host.example> '), '<a.1@host.example>');
  });

  it('decodes UTF-8 bytes, and keeps 8-bit bytes that are not UTF-8 as their latin1 letters', () => {
    assert.equal(loggedMessageId(asReceived('<grüße@bücher.example>')), '<grüße@bücher.example>');
    // 0xa0 ends `à` in UTF-8: trimmed before decoding it would break the letter.
    assert.equal(loggedMessageId(asReceived('<voilà>')), '<voilà>');
    assert.equal(loggedMessageId('<caf\xe9@x>'), '<café@x>');
  });

  it('writes control characters out, the C1 ones and the line separators too', () => {
    assert.equal(loggedMessageId('<a\x1b[2Jb\x00\x7f@x>'), String.raw`<a\x1b[2Jb\x00\x7f@x>`);
    assert.equal(loggedMessageId(asReceived('<a\u0085\u2028\u202e@x>')), String.raw`<a\x85\u2028\u202e@x>`);
  });

  it('caps a long value at MESSAGE_ID_MAX characters with a mark, never inside an escape or a surrogate pair', () => {
    const exact = `<${'a'.repeat(MESSAGE_ID_MAX - 2)}>`;
    assert.equal(loggedMessageId(exact), exact);
    const long = loggedMessageId(`<${'a'.repeat(10_000)}>`)!;
    assert.equal(long.length, MESSAGE_ID_MAX);
    assert.ok(long.endsWith('a…'));
    // An escape (4 characters) that would straddle the cap is left out whole.
    const escapes = loggedMessageId(`<${'a'.repeat(MESSAGE_ID_MAX - 4)}\x1b\x1b>`)!;
    assert.equal(escapes, `<${'a'.repeat(MESSAGE_ID_MAX - 4)}…`);
    const astral = loggedMessageId(asReceived(`<${'a'.repeat(MESSAGE_ID_MAX - 3)}😀😀>`))!;
    assert.equal(astral, `<${'a'.repeat(MESSAGE_ID_MAX - 3)}…`);
    assert.ok(astral.length <= MESSAGE_ID_MAX);
  });

  it('is read from a raw header section, folded or not', () => {
    assert.equal(messageIdOfHeaderBlock(Buffer.from('Subject: x\r\nMessage-Id:\r\n <folded@x>\r\n\r\n')), '<folded@x>');
    assert.equal(messageIdOfHeaderBlock(Buffer.from('Subject: x\r\n\r\n')), undefined);
  });

  it('stays on one line in the text log format', () => {
    let out = '';
    const log = new JsonLogger({ format: 'text', sink: { write: (l) => { out += l; } } });
    log.info('message', { qid: 'q1', message_id: loggedMessageId(asReceived(`<x\u2028INFO forged\u0085y\x1b[2J${'z'.repeat(5000)}>`)) });
    assert.equal(out.split('\n').length, 2, out);
    assert.ok(!/[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]/.test(out), out);
    // Quoted for its blank, so `INFO forged` cannot pass for a field or a line of its own.
    assert.ok(out.includes(String.raw`message_id="<x\\u2028INFO forged\\x85y\\x1b[2Jzzz`), out);
  });
});
