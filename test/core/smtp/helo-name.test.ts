// Which HELO names access.helo_required_fqdn refuses, and as what, by Postfix's rules (valid_hostname, address literals).
import assert from 'node:assert/strict';
import { heloNameProblem } from '../../../core/smtp/helo-policy.ts';

describe('HELO name rules', () => {
  it('take a fully-qualified host name or a valid address literal', () => {
    for (const name of ['mail.example.com', 'MAIL.Example.COM', 'mail.example.com.', 'mx_1.example.com', '123.example.com', '[192.0.2.1]', '[IPv6:2001:db8::1]']) {
      assert.equal(heloNameProblem(name), undefined, name);
    }
  });

  it('call a name without a dot, or a bare address, not fully qualified', () => {
    for (const name of ['localhost', 'Laptop', 'laptop.', '192.0.2.1', '2001:db8::1']) assert.equal(heloNameProblem(name), 'not-fqdn', name);
  });

  it('call anything else invalid', () => {
    for (const name of ['bad!name.example', '-x.example', 'x-.example', 'a..b.example', 'host.example..', '[192.0.2.300]', '[mail.example.com]', 'bücher.example', `${'a'.repeat(64)}.example`]) {
      assert.equal(heloNameProblem(name), 'invalid', name);
    }
  });
});
