// The spf plugin's hooks over an in-memory zone: findings, Received-SPF, refusal and skip rules.
import assert from 'node:assert/strict';
import plugin from '../../../plugins/spf/index.ts';
import { validate } from '../../../core/config/schema.ts';
import { zoneResolver } from '../../../scripts/spf/zone-resolver.ts';
import { fakeContext } from './fake-context.ts';

const dns = zoneResolver({
  'sender.test': [{ TXT: 'v=spf1 ip4:192.0.2.0/24 -all' }],
  'soft.test': [{ TXT: 'v=spf1 ~all' }],
  'mail.sender.test': [{ TXT: 'v=spf1 a -all' }, { A: '192.0.2.10' }],
  'dead.test': ['TIMEOUT'],
  'nospf.test': [{ A: '192.0.2.50' }],
});

async function make(options: Record<string, unknown> = {}) {
  const { value, issues } = validate(plugin.configSchema, options);
  assert.deepEqual(issues, []);
  return plugin.create(value, undefined as never);
}

async function mailFrom(options: Record<string, unknown>, ctxInput: { ip: string; helo?: string; from: string; trusted?: boolean; user?: string }) {
  const inst = await make(options);
  const state = {};
  const ctx = fakeContext({ hook: 'mailFrom', dns, ip: ctxInput.ip, helo: ctxInput.helo ?? 'mail.sender.test', mailFrom: ctxInput.from, trusted: ctxInput.trusted, user: ctxInput.user, state });
  const out = await inst.hooks.mailFrom!(ctx);
  const dataCtx = fakeContext({ hook: 'data', dns, state });
  await inst.hooks.data!(dataCtx);
  return { out, findings: ctx.added, headers: dataCtx.headers };
}

describe('spf plugin', () => {
  it('records SPF_PASS and SPF_HELO_PASS with parseable details and adds Received-SPF', async () => {
    const { out, findings, headers } = await mailFrom({}, { ip: '192.0.2.10', from: 'a@sender.test' });
    assert.equal(out, undefined);
    const symbols = findings.map((f) => f.symbol).sort();
    assert.deepEqual(symbols, ['SPF_HELO_PASS', 'SPF_PASS']);
    const mf = findings.find((f) => f.symbol === 'SPF_PASS')!;
    assert.equal(mf.score, -1);
    assert.equal(mf.detail, 'pass identity=mailfrom domain=sender.test ip=192.0.2.10 mechanism=ip4:192.0.2.0/24');
    assert.equal(headers.length, 1);
    assert.equal(headers[0].name, 'Received-SPF');
    assert.match(headers[0].value, /^pass \(mx\.test\.example: domain of a@sender\.test designates 192\.0\.2\.10 as permitted sender\) client-ip=192\.0\.2\.10; envelope-from=a@sender\.test; helo=mail\.sender\.test; receiver=mx\.test\.example; identity=mailfrom; mechanism="?ip4:192\.0\.2\.0\/24"?;$/);
  });

  it('scores a fail without refusing by default, and refuses with 550 5.7.23 when reject_fail is set', async () => {
    const scored = await mailFrom({}, { ip: '198.51.100.1', from: 'a@sender.test' });
    assert.equal(scored.out, undefined);
    assert.equal(scored.findings.find((f) => f.symbol === 'SPF_FAIL')?.score, 4);
    const refused = await mailFrom({ reject_fail: true }, { ip: '198.51.100.1', from: 'a@sender.test' });
    assert.equal(refused.out?.action, 'reject');
    assert.equal(refused.out?.code, 550);
    assert.equal(refused.out?.enhanced, '5.7.23');
    assert.match(String(refused.out?.text), /SPF check failed: The domain sender\.test does not designate 198\.51\.100\.1/);
  });

  it('scores softfail and never refuses it', async () => {
    const r = await mailFrom({ reject_fail: true }, { ip: '198.51.100.1', from: 'a@soft.test' });
    assert.equal(r.out, undefined);
    assert.equal(r.findings.find((f) => f.symbol === 'SPF_SOFTFAIL')?.score, 2);
  });

  it('uses score overrides from the config', async () => {
    const r = await mailFrom({ scores: { SPF_SOFTFAIL: 3.5 } }, { ip: '198.51.100.1', from: 'a@soft.test' });
    assert.equal(r.findings.find((f) => f.symbol === 'SPF_SOFTFAIL')?.score, 3.5);
  });

  it('records temperror and tempfails only when on_temperror is tempfail', async () => {
    const kept = await mailFrom({}, { ip: '198.51.100.1', from: 'a@dead.test' });
    assert.equal(kept.out, undefined);
    assert.ok(kept.findings.some((f) => f.symbol === 'SPF_TEMPERROR'));
    const deferred = await mailFrom({ on_temperror: 'tempfail' }, { ip: '198.51.100.1', from: 'a@dead.test' });
    assert.equal(deferred.out?.action, 'tempfail');
    assert.equal(deferred.out?.code, 451);
    assert.equal(deferred.out?.enhanced, '4.4.3');
  });

  it('checks a null sender as postmaster@<HELO name>, once (no SPF_HELO_* beside it)', async () => {
    const r = await mailFrom({}, { ip: '192.0.2.10', from: '' });
    assert.deepEqual(r.findings.map((f) => f.symbol), ['SPF_PASS']);
    assert.match(r.findings[0].detail!, /identity=mailfrom domain=mail\.sender\.test/);
    const heloOnly = await mailFrom({ check_mailfrom: false }, { ip: '192.0.2.10', from: '' });
    assert.deepEqual(heloOnly.findings.map((f) => f.symbol), ['SPF_HELO_PASS'], 'without the MAIL FROM check the HELO finding stays');
  });

  it('refuses a null sender whose HELO name fails under reject_helo_fail, from the one check', async () => {
    const r = await mailFrom({ reject_helo_fail: true }, { ip: '198.51.100.1', helo: 'sender.test', from: '' });
    assert.equal(r.out?.action, 'reject');
    assert.match(String(r.out?.text), /^SPF check of HELO name sender\.test failed: /);
    assert.deepEqual(r.findings.map((f) => f.symbol), ['SPF_FAIL']);
  });

  it('skips trusted sessions and local_ips entirely', async () => {
    const trusted = await mailFrom({ reject_fail: true }, { ip: '198.51.100.1', from: 'a@sender.test', trusted: true, user: 'alice' });
    assert.equal(trusted.out, undefined);
    assert.deepEqual(trusted.findings, []);
    assert.deepEqual(trusted.headers, []);
    const local = await mailFrom({ reject_fail: true, local_ips: ['198.51.100.0/24'] }, { ip: '198.51.100.1', from: 'a@sender.test' });
    assert.equal(local.out, undefined);
    assert.deepEqual(local.findings, []);
  });

  it('applies the local policy and reports the best guess', async () => {
    const local = await mailFrom({ reject_fail: true, local_policy: 'ip4:198.51.100.0/24' }, { ip: '198.51.100.1', from: 'a@sender.test' });
    assert.equal(local.out, undefined);
    assert.match(local.findings.find((f) => f.symbol === 'SPF_PASS')!.detail!, /local_policy=yes/);
    const guess = await mailFrom({ best_guess: 'v=spf1 a/24 ?all', check_helo: false }, { ip: '192.0.2.99', from: 'a@nospf.test' });
    assert.deepEqual(guess.findings.map((f) => f.symbol), ['SPF_NONE', 'SPF_GUESS_PASS']);
    assert.match(guess.findings[0].detail!, /^none identity=mailfrom domain=nospf\.test ip=192\.0\.2\.99 guess=pass$/);
  });

  it('refuses to start with a local policy that does not parse', async () => {
    await assert.rejects(make({ local_policy: 'ip4:300.1.1.1' }), /^Error: local_policy: bad address in "ip4:300.1.1.1"$/);
  });
});
