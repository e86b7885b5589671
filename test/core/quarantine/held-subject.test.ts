// withoutSubjectTag on the header lines the intake writes (the cases a running gateway rarely meets; the usual ones
// are driven through the gateway in release-subject.test.ts).
import assert from 'node:assert/strict';
import { withoutSubjectTag } from '../../../core/quarantine/held-subject.ts';

const RECEIVED = 'Received: from client.test\r\n';
const VERDICT = 'X-Mailmoat-Spam: Yes\r\n';

describe('the quarantine\'s Subject without the verdict\'s tag', () => {
  it('a Subject a plugin removed without writing another stays removed: the message had none before the tag', () => {
    const out = withoutSubjectTag({
      prepend: `${RECEIVED}${VERDICT}Subject: [SPAM] hello\r\n`, remove: ['subject', 'x-mailmoat-spam'], tag: '[SPAM]',
      clientSubject: 'hello', pluginHeaders: [], pluginRemoved: new Set(['subject']),
    });
    assert.deepEqual(out, { prepend: `${RECEIVED}${VERDICT}`, remove: ['subject', 'x-mailmoat-spam'] });
  });

  it('takes off only our tagged line when a plugin added a Subject of its own beside the client\'s', () => {
    const out = withoutSubjectTag({
      prepend: `${RECEIVED}Subject: [SPAM] hello\r\n${VERDICT}Subject: [SPAM] hello\r\n`, remove: ['subject'], tag: '[SPAM]',
      clientSubject: 'hello', pluginHeaders: [['Subject', '[SPAM] hello']], pluginRemoved: new Set(),
    });
    assert.deepEqual(out, { prepend: `${RECEIVED}Subject: [SPAM] hello\r\n${VERDICT}`, remove: [] });
  });

  it('gives the client no Subject back when it sent none', () => {
    const out = withoutSubjectTag({ prepend: `${RECEIVED}Subject: [SPAM]\r\n`, remove: ['subject'], tag: '[SPAM]', clientSubject: undefined, pluginHeaders: [], pluginRemoved: new Set() });
    assert.deepEqual(out, { prepend: RECEIVED, remove: [] });
  });

  it('leaves the headers tagged rather than guess when the tagged line is not where the intake puts it', () => {
    const h = { prepend: `${RECEIVED}Subject: [JUNK] hello\r\n`, remove: ['subject'], tag: '[SPAM]', clientSubject: 'hello', pluginHeaders: [], pluginRemoved: new Set<string>() };
    assert.deepEqual(withoutSubjectTag(h), { prepend: h.prepend, remove: ['subject'] });
  });
});
