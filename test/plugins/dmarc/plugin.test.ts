// The dmarc plugin over an in-memory zone: DKIM, DMARC alignment with the spf plugin's finding, enforcement, ARC.
import assert from 'node:assert/strict';
import plugin from '../../../plugins/dmarc/index.ts';
import { validate } from '../../../core/config/schema.ts';
import type { Finding } from '../../../core/index.ts';
import { zoneResolver } from '../../../scripts/spf/zone-resolver.ts';
import { fakeContext } from '../spf/fake-context.ts';
import { makeKey, message, messageView, seal, sign } from './mail-fixtures.ts';

const key = makeKey();
const otherKey = makeKey();
const arcKey = makeKey();

const dns = zoneResolver({
  'sel._domainkey.sender.test': [{ TXT: key.dnsRecord }],
  '_dmarc.sender.test': [{ TXT: 'v=DMARC1; p=reject; rua=mailto:agg@sender.test' }],
  'sel._domainkey.quar.test': [{ TXT: key.dnsRecord }],
  '_dmarc.quar.test': [{ TXT: 'v=DMARC1; p=quarantine' }],
  '_dmarc.mon.test': [{ TXT: 'v=DMARC1; p=none' }],
  '_dmarc.org.test': [{ TXT: 'v=DMARC1; p=none; sp=reject' }],
  '_dmarc.dead.test': ['TIMEOUT'],
  'slow._domainkey.sender.test': ['TIMEOUT'],
  '_dmarc.strict.test': [{ TXT: 'v=DMARC1; p=reject; adkim=s; aspf=s' }],
  'sel._domainkey.mail.strict.test': [{ TXT: key.dnsRecord }],
  'sel._domainkey.strict.test': [{ TXT: key.dnsRecord }],
  'arc._domainkey.list.test': [{ TXT: arcKey.dnsRecord }],
});

function spfFinding(result: string, domain: string): Finding {
  return { symbol: `SPF_${result.toUpperCase()}`, score: 0, detail: `${result} identity=mailfrom domain=${domain} ip=198.51.100.7`, plugin: 'spf' };
}

async function run(raw: Buffer, opts: { config?: Record<string, unknown>; spf?: Finding; mailFrom?: string; trusted?: boolean } = {}) {
  const { value, issues } = validate(plugin.configSchema, opts.config ?? {});
  assert.deepEqual(issues, []);
  const inst = await plugin.create(value, undefined as never);
  const ctx = fakeContext({
    hook: 'data', dns, ip: '198.51.100.7', helo: 'mail.sender.test', mailFrom: opts.mailFrom ?? 'bounce@sender.test',
    message: messageView(raw), findings: opts.spf ? [opts.spf] : [], plugin: 'dmarc', trusted: opts.trusted,
  });
  const out = await inst.hooks.data!(ctx);
  const symbols = ctx.added.map((f) => f.symbol);
  const ar = ctx.headers.filter((h) => h.name === 'Authentication-Results').map((h) => h.value);
  assert.equal(ar.length, opts.trusted || opts.config?.header === false ? 0 : 1, 'exactly one Authentication-Results header');
  return { out, symbols, findings: ctx.added, header: ar[0] ?? '', removed: ctx.removed };
}

describe('dmarc plugin', () => {
  it('passes DKIM and DMARC for an aligned signature and writes all four methods into one header', async () => {
    const raw = await sign(message({ from: 'Alice <alice@sender.test>' }), 'sender.test', 'sel', key);
    const r = await run(raw, { spf: spfFinding('fail', 'sender.test'), config: { enforce: true } });
    assert.equal(r.out, undefined);
    assert.deepEqual(r.symbols, ['DKIM_PASS', 'ARC_NONE', 'DMARC_PASS']);
    assert.match(r.header, /^mx\.test\.example; spf=fail smtp\.mailfrom=bounce@sender\.test; dkim=pass header\.i=@sender\.test header\.s=sel .*; dmarc=pass .*header\.from=sender\.test.*; arc=none/);
  });

  it('does not let a signature with l= vouch for text appended after it, unless partial_dkim: accept', async () => {
    const signed = await sign(message({ from: 'alice@sender.test' }), 'sender.test', 'sel', key, { maxBodyLength: 5 });
    const appended = Buffer.concat([signed, Buffer.from('Click http://evil.example/ now\r\n')]);
    const strict = await run(appended, { spf: spfFinding('fail', 'sender.test'), config: { enforce: true } });
    assert.ok(strict.symbols.includes('DMARC_FAIL_REJECT'), strict.symbols.join());
    assert.equal(strict.out?.action, 'reject');
    const lenient = await run(appended, { spf: spfFinding('fail', 'sender.test'), config: { enforce: true, partial_dkim: 'accept' } });
    assert.ok(lenient.symbols.includes('DMARC_PASS'), lenient.symbols.join());
    const covering = await sign(message({ from: 'alice@sender.test' }), 'sender.test', 'sel', key, { maxBodyLength: 100_000 });
    const whole = await run(covering, { spf: spfFinding('fail', 'sender.test'), config: { enforce: true } });
    assert.ok(whole.symbols.includes('DMARC_PASS'), 'an l= that covers the whole body still counts');
  });

  it('passes DMARC through aligned SPF alone, and fails it when SPF passes for another domain', async () => {
    const raw = message({ from: 'alice@sender.test' });
    const aligned = await run(raw, { spf: spfFinding('pass', 'sender.test') });
    assert.deepEqual(aligned.symbols, ['DKIM_NONE', 'ARC_NONE', 'DMARC_PASS']);
    const other = await run(raw, { spf: spfFinding('pass', 'elsewhere.test') });
    assert.ok(other.symbols.includes('DMARC_FAIL_REJECT'));
    assert.equal(other.out, undefined, 'no enforcement unless enforce is set');
  });

  it('refuses with 550 5.7.1 when enforcing p=reject', async () => {
    const r = await run(message({ from: 'alice@sender.test' }), { spf: spfFinding('fail', 'sender.test'), config: { enforce: true } });
    assert.equal(r.out?.action, 'reject');
    assert.equal(r.out?.code, 550);
    assert.equal(r.out?.enhanced, '5.7.1');
    assert.match(r.header, /dmarc=fail/);
  });

  it('quarantines when enforcing p=quarantine, and only scores p=none', async () => {
    const q = await run(message({ from: 'a@quar.test' }), { spf: spfFinding('softfail', 'quar.test'), config: { enforce: true } });
    assert.equal(q.out?.action, 'quarantine');
    assert.ok(q.symbols.includes('DMARC_FAIL_QUARANTINE'));
    const n = await run(message({ from: 'a@mon.test' }), { spf: spfFinding('fail', 'mon.test'), config: { enforce: true } });
    assert.equal(n.out, undefined);
    assert.ok(n.symbols.includes('DMARC_FAIL_NONE'));
  });

  it('applies sp= to subdomains of an organisational domain', async () => {
    const r = await run(message({ from: 'a@news.org.test' }), { spf: spfFinding('fail', 'news.org.test'), config: { enforce: true } });
    assert.equal(r.out?.action, 'reject');
  });

  it('reports a body changed after signing as a failed signature (RFC 6376 6.3), which no longer aligns', async () => {
    const signed = await sign(message({ from: 'alice@sender.test' }), 'sender.test', 'sel', key);
    const tampered = Buffer.from(signed.toString().replace('in spirit', 'in cash'));
    const r = await run(tampered, { spf: spfFinding('fail', 'sender.test') });
    assert.ok(r.symbols.includes('DKIM_FAIL') && !r.symbols.includes('DKIM_NEUTRAL'), r.symbols.join(' '));
    assert.match(r.header, /; dkim=fail \(body hash did not verify\) /);
    assert.ok(r.symbols.includes('DMARC_FAIL_REJECT'));
  });

  it('fails a signature made with a key other than the published one', async () => {
    const r = await run(await sign(message({ from: 'alice@sender.test' }), 'sender.test', 'sel', otherKey), { spf: spfFinding('none', 'sender.test') });
    assert.ok(r.symbols.includes('DKIM_FAIL'));
  });

  it('honours strict alignment (aspf=s, adkim=s): a subdomain of the From domain does not align', async () => {
    const spfSub = await run(message({ from: 'a@strict.test' }), { spf: spfFinding('pass', 'bounce.strict.test'), config: { enforce: true } });
    assert.ok(spfSub.symbols.includes('DMARC_FAIL_REJECT'), spfSub.symbols.join(' '));
    assert.equal(spfSub.out?.action, 'reject');
    assert.match(spfSub.header, /dmarc=fail/);
    const dkimSub = await run(await sign(message({ from: 'a@strict.test' }), 'mail.strict.test', 'sel', key), { spf: spfFinding('none', 'strict.test'), config: { enforce: true } });
    assert.deepEqual(dkimSub.symbols, ['DKIM_PASS', 'ARC_NONE', 'DMARC_FAIL_REJECT']);
    assert.equal(dkimSub.out?.action, 'reject');
    const exactSpf = await run(message({ from: 'a@strict.test' }), { spf: spfFinding('pass', 'strict.test'), config: { enforce: true } });
    assert.ok(exactSpf.symbols.includes('DMARC_PASS'));
    assert.equal(exactSpf.out, undefined);
    const exactDkim = await run(await sign(message({ from: 'a@Strict.test' }), 'strict.test', 'sel', key), { spf: spfFinding('pass', 'bounce.strict.test'), config: { enforce: true } });
    assert.ok(exactDkim.symbols.includes('DMARC_PASS'), exactDkim.symbols.join(' '));
    assert.match(exactDkim.header, /dmarc=pass/);
  });

  it('records DMARC_TEMPERROR when the policy lookup times out, and does not enforce', async () => {
    const r = await run(message({ from: 'a@dead.test' }), { spf: spfFinding('fail', 'dead.test'), config: { enforce: true } });
    assert.ok(r.symbols.includes('DMARC_TEMPERROR'));
    assert.equal(r.out, undefined);
  });

  it('answers 451, not 550, when p=reject fails only because a DNS lookup of an aligned identifier failed', async () => {
    const dkimDown = await run(await sign(message({ from: 'alice@sender.test' }), 'sender.test', 'slow', key), { spf: spfFinding('fail', 'sender.test'), config: { enforce: true } });
    assert.ok(dkimDown.symbols.includes('DKIM_TEMPERROR'), dkimDown.symbols.join(' '));
    assert.equal(dkimDown.out?.action, 'tempfail');
    assert.equal(dkimDown.out?.code, 451);
    const spfDown = await run(message({ from: 'alice@sender.test' }), { spf: spfFinding('temperror', 'bounce.sender.test'), config: { enforce: true } });
    assert.equal(spfDown.out?.action, 'tempfail');
    const unrelated = await run(message({ from: 'alice@sender.test' }), { spf: spfFinding('temperror', 'elsewhere.test'), config: { enforce: true } });
    assert.equal(unrelated.out?.action, 'reject', 'a DNS failure for a domain that cannot align changes nothing');
  });

  it('records DMARC_NONE for a domain without a record, and DMARC_PERMERROR for From addresses of two domains that do not fail', async () => {
    const none = await run(message({ from: 'a@nodmarc.test' }), { spf: spfFinding('pass', 'nodmarc.test') });
    assert.ok(none.symbols.includes('DMARC_NONE'));
    const two = await run(message({ from: 'a@nodmarc.test, b@other-nodmarc.test' }), { spf: spfFinding('pass', 'nodmarc.test') });
    assert.ok(two.symbols.includes('DMARC_PERMERROR'), two.symbols.join(' '));
    const noFrom = await run(message({ from: 'undisclosed-recipients:;' }), { spf: spfFinding('pass', 'sender.test') });
    assert.ok(noFrom.symbols.includes('DMARC_PERMERROR'), noFrom.symbols.join(' '));
  });

  it('checks every author domain of a multi-address From and applies the strictest failing policy (RFC 7489 6.6.1)', async () => {
    const sameDomain = await run(message({ from: 'a@sender.test, b@sender.test' }), { spf: spfFinding('pass', 'sender.test'), config: { enforce: true } });
    assert.ok(sameDomain.symbols.includes('DMARC_PASS'), sameDomain.symbols.join(' '));
    const spoofed = await run(message({ from: 'ceo@sender.test, someone@mon.test' }), { spf: spfFinding('pass', 'mon.test'), config: { enforce: true } });
    assert.ok(spoofed.symbols.includes('DMARC_FAIL_REJECT'), spoofed.symbols.join(' '));
    assert.equal(spoofed.out?.action, 'reject');
    const twoHeaders = await run(message({ from: 'ceo@sender.test', extraHeaders: ['From: a@quar.test'] }), { spf: spfFinding('fail', 'x.test'), config: { enforce: true } });
    assert.equal(twoHeaders.out?.action, 'reject', twoHeaders.symbols.join(' '));
  });

  it('reads a From header of 200 KB of dotted words in one pass (mailauth shares the root nodemailer address parser)', async function () {
    // mailauth's own nodemailer 8.0.7 took 7 s for 50 KB of "a.a.a…" and minutes for this; package.json overrides it.
    this.timeout(10_000);
    const r = await run(message({ from: 'a.'.repeat(100_000) }), { spf: spfFinding('pass', 'sender.test') });
    assert.ok(r.symbols.includes('DMARC_PERMERROR'), r.symbols.join(' '));
  });

  it('verifies an ARC seal, and lets a trusted sealer override a DMARC reject', async () => {
    const original = message({ from: 'alice@sender.test', subject: '[list] Quarterly figures' });
    const sealed = await seal(original, 'list.test', 'arc', arcKey, 'list.test; spf=pass smtp.mailfrom=sender.test; dmarc=pass');
    const plain = await run(sealed, { spf: spfFinding('fail', 'list.test'), config: { enforce: true } });
    assert.ok(plain.symbols.includes('ARC_PASS'));
    assert.match(plain.header, /arc=pass/);
    assert.equal(plain.out?.action, 'reject');
    const trusted = await run(sealed, { spf: spfFinding('fail', 'list.test'), config: { enforce: true, arc_trusted_sealers: ['list.test'] } });
    assert.ok(trusted.symbols.includes('DMARC_ARC_OVERRIDE'));
    assert.ok(!trusted.symbols.includes('DMARC_FAIL_REJECT'), 'an overridden failure is not scored as one');
    assert.equal(trusted.out, undefined);
    const scoredOnly = await run(sealed, { spf: spfFinding('fail', 'list.test'), config: { arc_trusted_sealers: ['list.test'] } });
    assert.deepEqual(scoredOnly.symbols.filter((x) => x.startsWith('DMARC_')), ['DMARC_ARC_OVERRIDE'], 'also without enforce');
  });

  it('skips trusted sessions', async () => {
    const r = await run(message({ from: 'alice@sender.test' }), { trusted: true, config: { enforce: true } });
    assert.deepEqual(r.symbols, []);
    assert.equal(r.out, undefined);
  });

  it('removes incoming Authentication-Results claiming our authserv-id, also when it writes no header of its own', async () => {
    const forged = message({ from: 'a@mon.test', extraHeaders: ['Authentication-Results: MX.test.example; dmarc=pass header.from=mon.test'] });
    assert.deepEqual((await run(forged)).removed, ['authentication-results']);
    assert.deepEqual((await run(forged, { config: { header: false } })).removed, ['authentication-results']);
    assert.deepEqual((await run(forged, { trusted: true })).removed, ['authentication-results'], 'for a trusted client too');
    const foreign = message({ from: 'a@mon.test', extraHeaders: ['Authentication-Results: mx.elsewhere.example; dmarc=pass'] });
    assert.deepEqual((await run(foreign)).removed, []);
  });

  it('says spf=none (not checked) when the spf plugin left no finding', async () => {
    const r = await run(message({ from: 'a@mon.test' }));
    assert.match(r.header, /spf=none \(not checked\)/);
  });
});
