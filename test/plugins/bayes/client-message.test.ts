// Where the client's message starts in a copy that went through the gateway (engine/client-message.ts), and that the
// tokenizer and the byte model both read a relayed copy as the client's message.
import assert from 'node:assert/strict';
import { clientMessage, clientMessageStart } from '../../../plugins/bayes/engine/client-message.ts';
import { tokenize } from '../../../plugins/bayes/engine/tokenizer.ts';
import { messagePrefix } from '../../../plugins/bayes/engine/byte-grams.ts';
import { DEFAULT_TOKENIZER } from '../../../plugins/bayes/engine/tokenizer.ts';
import { message } from './fixtures.ts';

/** The gateway's own Received field as core/smtp/message-intake.ts writes it. */
const OURS = 'Received: from client.sender.test (client.sender.test [203.0.113.9])\r\n\tby mx.gateway.test (Mailmoat) with ESMTPS id 1a2b3c\r\n\tfor <bob@example.com>;\r\n\tSun, 22 Nov 2026 20:00:00 +0000\r\n';
const MAILBOX = 'Return-Path: <x@sender.test>\r\nDelivered-To: bob@example.com\r\nReceived: from mx.gateway.test (mx.gateway.test [192.0.2.7])\r\n\tby imap.example.com (Postfix) with ESMTP id 4Fq;\r\n\tSun, 22 Nov 2026 20:00:01 +0000\r\n';
const VERDICT = 'X-Mailmoat-Verdict: accept; score=0; level=None\r\nX-Mailmoat-Bayes: 0.5000\r\n';

describe('bayes: the client\'s message in a relayed copy', () => {
  const client = message({ spam: false, seed: 4 });
  const relayed = MAILBOX + OURS + VERDICT + client;

  it('starts below the gateway\'s own Received field, for text and bytes alike', () => {
    assert.equal(clientMessageStart(client), 0);
    assert.equal(clientMessage(relayed), VERDICT + client);
    assert.equal(clientMessage(Buffer.from(relayed, 'latin1')).toString('latin1'), VERDICT + client);
    // An mbox copy, with LF line ends and its From line.
    const mbox = `From x@sender.test Sun Nov 22 20:00:02 2026\n${relayed.replace(/\r\n/g, '\n')}`;
    assert.equal(clientMessage(mbox), (VERDICT + client).replace(/\r\n/g, '\n'));
  });

  it('takes the lowest such field, so a message that came through another Mailmoat gateway reads the same at ours and in the mailbox', () => {
    const earlier = OURS.replace('mx.gateway.test', 'mx.partner.test') + 'X-Mailmoat-Verdict: accept; score=1; level=None\r\n';
    const arrived = 'Received: from mx.partner.test by relay.partner.test (Postfix) with ESMTP id 9;\r\n\tSun, 22 Nov 2026 19:59:00 +0000\r\n' + earlier + client;
    assert.equal(clientMessage(arrived), 'X-Mailmoat-Verdict: accept; score=1; level=None\r\n' + client);
    assert.equal(clientMessage(MAILBOX + OURS + VERDICT + arrived), clientMessage(arrived));
  });

  it('leaves alone what is not the gateway\'s trace: another server\'s Received, the words in the body or in another field', () => {
    const postfix = 'Received: from a.test by b.test (Postfix) with ESMTP id 1;\r\n\tSun, 22 Nov 2026 20:00:00 +0000\r\n';
    assert.equal(clientMessageStart(postfix + client), 0);
    const inBody = client + 'Received: x by mx.gateway.test (Mailmoat) with ESMTP id 1\r\n';
    assert.equal(clientMessageStart(inBody), 0);
    const otherField = 'Comments: by mx.gateway.test (Mailmoat) with ESMTP\r\n' + client;
    assert.equal(clientMessageStart(otherField), 0);
  });

  it('gives the tokenizer and the byte model the tokens and bytes of the client\'s message, with no rcv: token of ours', () => {
    const lf = relayed.replace(/\r\n/g, '\n');
    assert.deepEqual(tokenize(lf), tokenize(client));
    assert.ok(![...tokenize(lf).keys()].some((t) => t.startsWith('rcv:')), 'no host of the gateway or of the mailbox server');
    assert.deepEqual(messagePrefix(lf, DEFAULT_TOKENIZER.ignoreHeaders), messagePrefix(client, DEFAULT_TOKENIZER.ignoreHeaders));
    assert.deepEqual(messagePrefix(Buffer.from(relayed, 'latin1'), DEFAULT_TOKENIZER.ignoreHeaders), messagePrefix(client, DEFAULT_TOKENIZER.ignoreHeaders));
  });
});
