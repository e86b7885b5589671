// Counting clients by network (limits.ipv4_prefix / ipv6_prefix, Postfix's smtpd_client_ipv*_prefix_length): an IPv6
// sender holds a whole /64 and may take a new address of it for each connection, so the connection count per client,
// limits.error_block and the AUTH failure ban count the /64. Real clients on ::1 cannot change their source address,
// so they name themselves with the PROXY protocol, as a load balancer in front of the gateway would.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { UsersFile } from '../../../core/auth/users-file.ts';
import { clientBlock } from '../../../core/net/client-prefix.ts';
import { ClientCounting, type CountingSource } from '../../../core/net/client-counting.ts';
import { ConnectionLimits } from '../../../core/smtp/connection-limits.ts';
import { AuthFailures } from '../../../core/auth/auth-failures.ts';
import { CidrList } from '../../../core/net/cidr.ts';
import { waitUntil } from '../../helpers/wait-for.ts';

const plain = (u: string, p: string) => `AUTH PLAIN ${Buffer.from(`\0${u}\0${p}`).toString('base64')}`;

describe('clientBlock', () => {
  const v6 = (ip: string, bits: number) => clientBlock(ip, { v4: 32, v6: bits });
  const v4 = (ip: string, bits: number) => clientBlock(ip, { v4: bits, v6: 128 });

  it('gives every spelling of an address of one /64 the same block, and other /64s another', () => {
    assert.equal(v6('2001:db8:5:1::1', 64), '2001:db8:5:1::/64');
    assert.equal(v6('2001:0DB8:0005:0001:abcd:ef01:2345:6789', 64), '2001:db8:5:1::/64');
    assert.equal(v6('2001:db8:5:1:0:0:0:ffff', 64), '2001:db8:5:1::/64');
    assert.equal(v6('2001:db8:5:2::1', 64), '2001:db8:5:2::/64');
    assert.equal(v6('fe80::1%eth0', 64), 'fe80::/64');
    assert.equal(v6('::1', 64), '::/64');
  });

  it('cuts inside a group, and keeps the whole address, in RFC 5952 form, at 128', () => {
    assert.equal(v6('2001:db8:5:1ff::1', 56), '2001:db8:5:100::/56');
    assert.equal(v6('2001:db8:abcd:1234::1', 84), '2001:db8:abcd:1234::/84');
    assert.equal(v6('2001:db8:abcd:1234:5678:9abc::1', 84), '2001:db8:abcd:1234:5678:9000::/84');
    assert.equal(v6('2001:0db8:0:0:1:0:0:1', 128), '2001:db8::1:0:0:1');
    assert.equal(v6('2001:db8:0:0:1::', 128), '2001:db8:0:0:1::', 'the longer run of zeros is the one shortened');
    assert.equal(v6('2001:db8:0:1:0:0:1:1', 128), '2001:db8:0:1::1:1');
    assert.equal(v6('1:2:3:4:5:6:7:8', 128), '1:2:3:4:5:6:7:8');
    assert.equal(v6('64:ff9b::198.51.100.7', 128), '64:ff9b::c633:6407');
    assert.equal(v6('1:2:3:4:5:6:198.51.100.7', 96), '1:2:3:4:5:6::/96');
  });

  it('counts an IPv4-mapped address as the IPv4 address it is, by ipv4_prefix', () => {
    assert.equal(v4('198.51.100.77', 24), '198.51.100.0/24');
    assert.equal(v4('::ffff:198.51.100.77', 24), '198.51.100.0/24');
    assert.equal(v4('::ffff:c633:644d', 24), '198.51.100.0/24');
    assert.equal(v4('198.51.100.77', 32), '198.51.100.77');
    assert.equal(v4('198.51.255.255', 17), '198.51.128.0/17');
  });

  it('leaves what is not an address as it is', () => {
    assert.equal(v6('', 64), '');
    assert.equal(v6('not-an-ip', 64), 'not-an-ip');
  });
});

describe('ClientCounting and the counters that use it', () => {
  function source(limits: { ipv4_prefix: number; ipv6_prefix: number }, own: string[] = []): CountingSource {
    const ours = new CidrList(own);
    return { config: { limits }, policy: { relay: ours, allow: new CidrList([]), trustedProxies: new CidrList([]) } };
  }

  it('counts our own networks by their address alone, and names the counted network only where it is more', () => {
    const c = new ClientCounting(() => source({ ipv4_prefix: 32, ipv6_prefix: 64 }, ['2001:db8:5:1::25/128']));
    assert.equal(c.keyOf('2001:db8:5:1::7'), '2001:db8:5:1::/64');
    assert.equal(c.keyOf('2001:db8:5:1::25'), '2001:db8:5:1::25');
    assert.deepEqual(c.logField('2001:db8:5:1::7'), { network: '2001:db8:5:1::/64' });
    assert.deepEqual(c.logField('198.51.100.7'), {});
  });

  it('takes a connection off the count it was counted on when a reload changed the prefix meanwhile', () => {
    let cfg = source({ ipv4_prefix: 32, ipv6_prefix: 64 });
    const limits = new ConnectionLimits(() => 0, new ClientCounting(() => cfg));
    const max = { total: 100, perIp: 2 };
    assert.equal(limits.open('2001:db8:9::1', max), undefined);
    assert.equal(limits.open('2001:db8:9::2', max), undefined);
    assert.match(limits.open('2001:db8:9::3', max) ?? '', /from your network/, 'the /64 holds two');
    cfg = source({ ipv4_prefix: 32, ipv6_prefix: 128 });
    limits.close('2001:db8:9::1');
    limits.close('2001:db8:9::2');
    assert.deepEqual({ open: limits.count, ...limits.tracked }, { open: 0, ips: 0, blocked: 0 }, 'nothing left counted');
    limits.close('2001:db8:9::2');
    assert.equal(limits.count, 0, 'a close without an open takes nothing off');
  });

  it('adds up AUTH failures from the addresses of one /64, and keeps them apart at 128', () => {
    let cfg = source({ ipv4_prefix: 32, ipv6_prefix: 64 });
    const f = new AuthFailures(() => 0, new ClientCounting(() => cfg));
    f.failed('2001:db8:7::1', 1000);
    f.failed('2001:db8:7::2', 1000);
    assert.equal(f.refused('2001:db8:7::3', 2), true);
    assert.equal(f.refused('2001:db8:8::1', 2), false);
    cfg = source({ ipv4_prefix: 32, ipv6_prefix: 128 });
    f.failed('2001:db8:17::1', 1000);
    f.failed('2001:db8:17::2', 1000);
    assert.equal(f.refused('2001:db8:17::1', 2), false);
  });
});

describe('counting IPv6 clients by /64 on a real gateway', function () {
  this.timeout(30_000);
  let scratch: string;
  let usersFile: string;
  let gw: TestGateway;
  let perAddress: TestGateway;

  before(async () => {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'mm-prefix-'));
    usersFile = path.join(scratch, 'users');
    new UsersFile(usersFile).add('alice', 'right-password');
    const common = {
      server: { listen: ['[::1]:0'], submission_listen: ['[::1]:0'], trusted_proxies: ['::1/128'], proxy_protocol: true },
      auth: { users_file: usersFile },
    };
    // The prefix lengths are left at their defaults here: IPv4 per address, IPv6 per /64.
    gw = await startGateway({
      config: {
        ...common,
        relay: { networks: ['2001:db8:5:1::25/128'] },
        limits: { max_errors: 3, error_block: '1m', max_connections_per_ip: 2, max_auth_failures: 2, auth_failure_block: '1m' },
      },
    });
    perAddress = await startGateway({
      config: {
        ...common,
        limits: { max_errors: 3, error_block: '1m', max_connections_per_ip: 2, ipv4_prefix: 24, ipv6_prefix: 128 },
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await perAddress?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  /** A connection that a trusted proxy on ::1 opens for `client`; returns the dialog and the greeting. */
  async function from(g: TestGateway, client: string, listener: 'smtp' | 'submission' = 'smtp') {
    const d = await SmtpDialog.connect(g.gateway.port(listener), '::1');
    const family = client.includes(':') ? 'TCP6' : 'TCP4';
    d.write(`PROXY ${family} ${client} ${family === 'TCP6' ? '::1' : '127.0.0.1'} 40000 25\r\n`);
    return { d, greeting: await d.read() };
  }

  /** Refused recipients until the gateway drops `client` at limits.max_errors (3 here). */
  async function runIntoErrors(g: TestGateway, client: string): Promise<void> {
    const { d, greeting } = await from(g, client);
    assert.equal(greeting.code, 220, `${greeting.code} ${greeting.text}`);
    assert.equal((await d.cmd('EHLO spammer.test')).code, 250);
    assert.equal((await d.cmd('MAIL FROM:<s@spammer.test>')).code, 250);
    const codes = [];
    for (const r of ['a', 'b', 'c', 'd']) codes.push((await d.cmd(`RCPT TO:<${r}@elsewhere.test>`)).code);
    assert.deepEqual(codes, [554, 554, 554, 421]);
    d.hangUp();
  }

  async function greetingFor(g: TestGateway, client: string, listener: 'smtp' | 'submission' = 'smtp') {
    const { d, greeting } = await from(g, client, listener);
    d.hangUp();
    return greeting;
  }

  it('limits.error_block from one address of a /64 refuses another of it, not one outside it nor our own relay host in it', async () => {
    await runIntoErrors(gw, '2001:db8:5:1::1');
    const neighbour = await greetingFor(gw, '2001:db8:5:1:aaaa::2');
    assert.equal(neighbour.code, 421, `${neighbour.code} ${neighbour.text}`);
    assert.match(neighbour.text, /Too many errors/);
    assert.equal((await greetingFor(gw, '2001:db8:5:2::1')).code, 220, 'the next /64 is someone else');
    assert.equal((await greetingFor(gw, '2001:db8:5:1::25')).code, 220, 'relay.networks are counted by their own address');
    const line = gw.logs.find((l) => l.msg === 'too many errors: disconnecting' && l.client === '2001:db8:5:1::1');
    assert.ok(line, 'the log names the real address');
    assert.equal(line.network, '2001:db8:5:1::/64', 'and the network it was counted as');
  });

  it('limits.max_connections_per_ip counts the connections of a whole /64', async () => {
    const a = await from(gw, '2001:db8:6:1::a');
    const b = await from(gw, '2001:db8:6:1::b');
    assert.deepEqual([a.greeting.code, b.greeting.code], [220, 220]);
    const third = await greetingFor(gw, '2001:db8:6:1:ffff::c');
    assert.equal(third.code, 421, `${third.code} ${third.text}`);
    assert.match(third.text, /Too many connections from your network/);
    assert.equal((await greetingFor(gw, '2001:db8:6:2::1')).code, 220, 'another /64 has its own count');
    await a.d.quit();
    // The close is counted when the gateway sees the socket end; the /64 has room again soon after.
    await waitUntil('the /64 to have room again', async () => (await greetingFor(gw, '2001:db8:6:1::c')).code === 220, 5000);
    b.d.hangUp();
  });

  it('the AUTH failure ban of one address of a /64 holds for the others, not for another /64', async () => {
    async function login(client: string, password: string) {
      const { d, greeting } = await from(gw, client, 'submission');
      assert.equal(greeting.code, 220, `${greeting.code} ${greeting.text}`);
      await d.cmd('EHLO guesser.test');
      assert.equal((await d.starttls()).code, 220);
      await d.cmd('EHLO guesser.test');
      return { d, reply: await d.cmd(plain('alice', password)) };
    }
    const g1 = await login('2001:db8:7:1::1', 'guess-1');
    assert.equal(g1.reply.code, 535);
    assert.equal((await g1.d.cmd(plain('alice', 'guess-2'))).code, 535);
    g1.d.hangUp();
    const neighbour = await login('2001:db8:7:1::2', 'right-password');
    assert.equal(neighbour.reply.code, 454, `${neighbour.reply.code} ${neighbour.reply.text}`);
    neighbour.d.hangUp();
    const elsewhere = await login('2001:db8:7:2::1', 'right-password');
    assert.equal(elsewhere.reply.code, 235, 'another /64 may log in');
    elsewhere.d.hangUp();
    const refused = gw.logs.find((l) => l.msg === 'authentication refused: too many failures from this address');
    assert.equal(refused?.client, '2001:db8:7:1::2');
    assert.equal(refused?.network, '2001:db8:7:1::/64');
  });

  it('ipv6_prefix 128 counts each address on its own again; ipv4_prefix 24 counts IPv4 and IPv4-mapped clients by /24', async () => {
    await runIntoErrors(perAddress, '2001:db8:5:1::1');
    assert.equal((await greetingFor(perAddress, '2001:db8:5:1::1')).code, 421);
    assert.equal((await greetingFor(perAddress, '2001:db8:5:1::2')).code, 220, 'a neighbour is not blocked at 128');
    const a = await from(perAddress, '2001:db8:6:1::a');
    const b = await from(perAddress, '2001:db8:6:1::b');
    const c = await from(perAddress, '2001:db8:6:1::c');
    assert.deepEqual([a.greeting.code, b.greeting.code, c.greeting.code], [220, 220, 220], 'each address has its own count');
    for (const x of [a, b, c]) x.d.hangUp();
    await runIntoErrors(perAddress, '198.51.100.7');
    assert.equal((await greetingFor(perAddress, '198.51.100.200')).code, 421, 'the /24 is blocked');
    assert.equal((await greetingFor(perAddress, '::ffff:198.51.100.9')).code, 421, 'an IPv4-mapped address of it too');
    assert.equal((await greetingFor(perAddress, '198.51.101.1')).code, 220);
    const line = perAddress.logs.find((l) => l.msg === 'too many errors: disconnecting' && l.client === '2001:db8:5:1::1');
    assert.equal(line?.network, undefined, 'no network field where the address itself is counted');
  });
});
