// The window behind limits.connection_rate, message_rate and recipient_rate (core/net/rate-windows.ts) and who it
// counts (core/smtp/client-rates.ts), on a clock the test sets: a burst up to the limit passes, the earlier bucket's
// events fade out as the window slides past them, idle clients are forgotten, and our own networks are never counted.
import assert from 'node:assert/strict';
import { RateWindows } from '../../core/net/rate-windows.ts';
import { ClientRates, type RateLimitsSource } from '../../core/smtp/client-rates.ts';
import { ClientCounting } from '../../core/net/client-counting.ts';
import { CidrList } from '../../core/net/cidr.ts';

const W = 60_000;

describe('rate windows', () => {
  let t: number;
  let windows: RateWindows;
  beforeEach(() => { t = 1_000_000; windows = new RateWindows(() => t); });

  const burst = (key: string, n: number, kind: 'connection' | 'message' | 'recipient' = 'connection') => {
    let last = 0;
    for (let i = 0; i < n; i++) last = windows.count(key, kind, W);
    return last;
  };

  it('counts each event of a burst, this one included', () => {
    assert.deepEqual([1, 2, 3].map(() => windows.count('a', 'connection', W)), [1, 2, 3]);
    assert.equal(windows.peek('a', 'connection', W), 3);
    assert.equal(windows.peek('a', 'connection', W), 3, 'a peek counts nothing');
  });

  it('keeps kinds and keys apart', () => {
    burst('a', 5, 'connection');
    assert.equal(windows.count('a', 'message', W), 1);
    assert.equal(windows.count('a', 'recipient', W), 1);
    assert.equal(windows.count('b', 'connection', W), 1);
  });

  it('weighs the earlier bucket by the part of it the window still covers', () => {
    burst('a', 10);
    t += W;
    // The window ending now covers all of the earlier bucket.
    assert.equal(windows.peek('a', 'connection', W), 10);
    t += W / 4;
    assert.equal(windows.peek('a', 'connection', W), 7.5);
    assert.equal(windows.count('a', 'connection', W), 8.5);
    t += W / 2;
    assert.equal(windows.peek('a', 'connection', W), 2.5 + 1);
  });

  it('does not forget a burst at a bucket\'s edge, as one fixed bucket cleared at its end would', () => {
    t += W - 1;
    burst('a', 10);
    t += 2;
    assert.ok(windows.count('a', 'connection', W) > 10, 'twenty events within 2 ms must not pass as ten');
  });

  it('starts a client again once a whole window after its last bucket has passed', () => {
    burst('a', 10);
    t += 2 * W;
    assert.equal(windows.peek('a', 'connection', W), 0);
    assert.equal(windows.count('a', 'connection', W), 1);
  });

  it('starts a client again when the window changes (a reload)', () => {
    burst('a', 10);
    assert.equal(windows.count('a', 'connection', 2_000), 1);
  });

  it('never weighs the earlier bucket as more than itself when the clock goes back', () => {
    burst('a', 4);
    t += W;
    burst('a', 1);
    t -= 10 * W;
    assert.equal(windows.peek('a', 'connection', W), 5);
  });

  // Clients of the last two windows are live; the sweep lets expired ones stay until the map doubles (expiring-entries.ts).
  it('holds at most twice the clients of the last two windows under a flood of new addresses, not every address ever seen', () => {
    const perRound = 5_000;
    let most = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < perRound; i++) {
        windows.count(`10.${round}.${i >> 8}.${i & 255}`, 'connection', W);
        most = Math.max(most, windows.size);
      }
      t += W;
    }
    assert.ok(most <= 4 * perRound, `held at most ${most} clients for ${perRound} new ones a window`);
  });
});

describe('client rates', () => {
  let t: number;
  let src: RateLimitsSource & { config: { limits: { ipv4_prefix: number; ipv6_prefix: number } } };
  let rates: ClientRates;
  beforeEach(() => {
    t = 1_000_000;
    src = {
      config: { limits: { connection_rate: 2, message_rate: 0, recipient_rate: 3, rate_window: W, ipv4_prefix: 32, ipv6_prefix: 64 } },
      policy: { relay: new CidrList(['10.1.0.0/16']), allow: new CidrList(['10.2.0.9']), trustedProxies: new CidrList(['10.3.0.1']) },
    };
    rates = new ClientRates(() => t, new ClientCounting(() => src));
  });

  it('refuses the event that takes a client over its limit, naming the limit', () => {
    assert.equal(rates.take(src, '192.0.2.1', 'connection'), undefined);
    assert.equal(rates.take(src, '192.0.2.1', 'connection'), undefined);
    const r = rates.take(src, '192.0.2.1', 'connection');
    assert.deepEqual(r, {
      text: 'Connection rate limit exceeded for your address, try again later',
      fields: { limit: 'limits.connection_rate', max: 2, window_ms: W },
    });
    assert.equal(rates.take(src, '192.0.2.2', 'connection'), undefined, 'another address is another client');
  });

  it('counts refused attempts too, so a client that keeps knocking stays refused', () => {
    for (let i = 0; i < 6; i++) rates.take(src, '192.0.2.1', 'connection');
    t += W + W / 2;
    // 6 events in the earlier bucket, half of it still in the window: 3, and this one makes 4.
    assert.ok(rates.take(src, '192.0.2.1', 'connection'));
  });

  it('counts an IPv6 client by its /64, and says so', () => {
    for (const ip of ['2001:db8:1:2::a', '2001:db8:1:2::b']) assert.equal(rates.take(src, ip, 'connection'), undefined);
    const r = rates.take(src, '2001:db8:1:2::c', 'connection');
    assert.equal(r?.text, 'Connection rate limit exceeded for your network, try again later');
    assert.equal(r?.fields.network, '2001:db8:1:2::/64');
  });

  it('never counts relay.networks, access.allow_ips or a trusted proxy\'s own address', () => {
    for (const ip of ['10.1.2.3', '10.2.0.9', '10.3.0.1']) {
      for (let i = 0; i < 10; i++) assert.equal(rates.take(src, ip, 'connection'), undefined, ip);
    }
    assert.equal(rates.size, 0, 'nothing held for them');
  });

  it('keeps nothing for a limit that is off, and reads the limits at each call (a reload)', () => {
    for (let i = 0; i < 10; i++) assert.equal(rates.take(src, '192.0.2.1', 'message'), undefined);
    assert.equal(rates.size, 0);
    src.config.limits.message_rate = 1;
    assert.equal(rates.take(src, '192.0.2.1', 'message'), undefined);
    assert.equal(rates.take(src, '192.0.2.1', 'message')?.fields.limit, 'limits.message_rate');
    src.config.limits.message_rate = 5;
    assert.equal(rates.take(src, '192.0.2.1', 'message'), undefined);
  });

  it('tells whether the next connection would be refused without counting it', () => {
    rates.take(src, '192.0.2.1', 'connection');
    assert.equal(rates.connectionsOver(src, '192.0.2.1'), undefined);
    assert.equal(rates.connectionsOver(src, '192.0.2.1'), undefined, 'asking twice counted nothing');
    rates.take(src, '192.0.2.1', 'connection');
    assert.equal(rates.connectionsOver(src, '192.0.2.1')?.fields.limit, 'limits.connection_rate');
    assert.equal(rates.connectionsOver(src, '10.3.0.1'), undefined);
  });
});
