// The LZMA and LZMA2 decoders on streams xz writes (raw, no container), with the properties 7-Zip never uses as well as
// its own, data that compresses and data that does not; then streams cut short, lying about their size or made of
// noise, which must end in LzmaDamaged and nothing else.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { decodeLzma } from '../../../core/message/lzma-decoder.ts';
import { decodeLzma2 } from '../../../core/message/lzma2-decoder.ts';
import { LzmaDamaged } from '../../../core/message/range-decoder.ts';
import { ensureCommands } from '../../helpers/system-packages.ts';

/** A generator of its own seed, so that a failing case can be run again. */
function seeded(seed: number): (below: number) => number {
  let s = seed;
  return (below) => {
    s = (Math.imul(s, 48271) + 11) >>> 0;
    return Math.floor((s / 2 ** 32) * below);
  };
}

const noiseOf = (next: (below: number) => number, length: number) => Buffer.from(Array.from({ length }, () => next(256)));

/** Text with near and far repeats, noise (so distances reach past it: the long-distance slots), and a long run. */
function sample(): Buffer {
  const prose = Buffer.from(Array.from({ length: 400 }, (_, i) => `line ${i % 37}: the quick brown fox ${i * 7919 % 1000} jumps\n`).join(''));
  return Buffer.concat([prose, noiseOf(seeded(1), 50_000), prose.subarray(1000, 9000), Buffer.alloc(70_000, 0x41), prose]);
}

const xz = (filter: string, data: Buffer) => execFileSync('xz', ['--format=raw', filter, '-c'], { input: data, maxBuffer: 64 << 20 });

/** The five property bytes 7z stores: lc/lp/pb in one, then the dictionary size. */
function lzmaProps(lc: number, lp: number, pb: number, dictionary = 1 << 20): Buffer {
  const p = Buffer.alloc(5);
  p[0] = (pb * 5 + lp) * 9 + lc;
  p.writeUInt32LE(dictionary, 1);
  return p;
}

/** Decoding either gives exactly `size` bytes or throws LzmaDamaged; anything else fails the test. */
function decodesOrDamaged(run: () => Buffer, size: number, label: string): 'decoded' | 'damaged' {
  try {
    assert.equal(run().length, size, label);
    return 'decoded';
  } catch (err) {
    if (err instanceof LzmaDamaged) return 'damaged';
    throw new Error(`${label}: ${String(err)}`);
  }
}

describe('core/message/lzma-decoder', function () {
  this.timeout(60_000);
  const data = sample();
  before(() => ensureCommands({ xz: 'xz-utils' }));

  it('decodes LZMA streams of every literal and position setting to the bytes packed, stopping at the size given', () => {
    for (const [lc, lp, pb, dict] of [[3, 0, 2, 1 << 20], [0, 0, 0, 1 << 16], [4, 0, 4, 1 << 20], [0, 4, 1, 1 << 20], [1, 3, 3, 4096], [2, 2, 0, 1 << 24]]) {
      // xz ends a raw LZMA stream with an end marker: the size the 7z header gives stops the decoding before it.
      const packed = xz(`--lzma1=lc=${lc},lp=${lp},pb=${pb},dict=${dict}`, data);
      assert.ok(decodeLzma(packed, lzmaProps(lc, lp, pb), data.length).equals(data), `lc=${lc} lp=${lp} pb=${pb}`);
    }
    assert.ok(decodeLzma(xz('--lzma1=preset=9e', data), lzmaProps(3, 0, 2), data.length).equals(data), 'preset 9e');
    assert.deepEqual(decodeLzma(Buffer.alloc(0), lzmaProps(3, 0, 2), 0), Buffer.alloc(0));
  });

  it('decodes LZMA2 streams: compressed chunks, stored chunks of noise, and over a megabyte in many chunks', () => {
    const noise = noiseOf(seeded(2), 200_000);
    const large = Buffer.concat([data, data, data, data, data, noise, data, data]);
    for (const [label, bytes, filter] of [['sample', data, '--lzma2=preset=6'], ['noise', noise, '--lzma2=preset=1'],
      ['large', large, '--lzma2=dict=64KiB'], ['lc0-lp4', data, '--lzma2=lc=0,lp=4,pb=0']] as const) {
      const packed = xz(filter, bytes);
      assert.ok(decodeLzma2(packed, Buffer.from([16]), bytes.length).equals(bytes), label);
    }
    // A stream of noise is stored rather than compressed: it holds its bytes as they are.
    assert.ok(xz('--lzma2=preset=1', noise).includes(noise.subarray(0, 1000)));
  });

  it('throws LzmaDamaged for a stream cut short, one that ends before its stated size, and one that holds more', () => {
    const lzma = xz('--lzma1=preset=6', data);
    assert.throws(() => decodeLzma(lzma.subarray(0, lzma.length >> 1), lzmaProps(3, 0, 2), data.length), LzmaDamaged);
    assert.throws(() => decodeLzma(lzma, lzmaProps(3, 0, 2), data.length + 1), /ends after/);
    const lzma2 = xz('--lzma2=preset=6', data);
    assert.throws(() => decodeLzma2(lzma2.subarray(0, lzma2.length - 10), Buffer.from([16]), data.length), LzmaDamaged);
    assert.throws(() => decodeLzma2(lzma2, Buffer.from([16]), data.length + 1), /ends after/);
    assert.throws(() => decodeLzma2(lzma2, Buffer.from([16]), data.length - 1), /more than its stated size/);
  });

  it('refuses properties out of range or costing more than it allows, and streams that do not start as LZMA does', () => {
    const lzma = xz('--lzma1=preset=6', data);
    assert.throws(() => decodeLzma(lzma, Buffer.from([225, 0, 0, 1, 0]), data.length), /properties byte 225/);
    assert.throws(() => decodeLzma(lzma, lzmaProps(8, 4, 2), data.length), /literal context of 12 bits/);
    assert.throws(() => decodeLzma(lzma, Buffer.from([0x5d]), data.length), /properties are 1 bytes/);
    assert.throws(() => decodeLzma(Buffer.concat([Buffer.from([1]), lzma.subarray(1)]), lzmaProps(3, 0, 2), data.length), /start with a zero byte/);
    const lzma2 = xz('--lzma2=preset=6', data);
    assert.throws(() => decodeLzma2(lzma2, Buffer.from([41]), data.length), /dictionary size property/);
    // Its first chunk made one that keeps the dictionary and properties of a chunk before it, which there is none of.
    const noReset = Buffer.from(lzma2);
    noReset[0] = (noReset[0] & 0x9f) | 0x20;
    assert.throws(() => decodeLzma2(noReset, Buffer.from([16]), data.length), /does not start a dictionary/);
  });

  it('ends every stream of noise or mutation in bytes of the stated size or LzmaDamaged, never another error', () => {
    const text = data.subarray(0, 20_000);
    const lzma = xz('--lzma1=preset=6', text);
    const lzma2 = xz('--lzma2=preset=6', text);
    const next = seeded(35);
    const outcomes = { decoded: 0, damaged: 0 };
    for (let i = 0; i < 300; i++) {
      const size = next(30_000);
      const noise = Buffer.concat([Buffer.from([0]), noiseOf(next, next(3000))]);
      outcomes[decodesOrDamaged(() => decodeLzma(noise, lzmaProps(next(9), next(5), next(5)), size), size, `lzma noise ${i}`)]++;
      outcomes[decodesOrDamaged(() => decodeLzma2(noise.subarray(1), Buffer.from([16]), size), size, `lzma2 noise ${i}`)]++;
      const one = Buffer.from(lzma);
      const two = Buffer.from(lzma2);
      for (let k = 1 + next(4); k > 0; k--) { one[next(one.length)] ^= 1 << next(8); two[next(two.length)] ^= 1 << next(8); }
      outcomes[decodesOrDamaged(() => decodeLzma(one, lzmaProps(3, 0, 2), text.length), text.length, `lzma mutation ${i}`)]++;
      outcomes[decodesOrDamaged(() => decodeLzma2(two, Buffer.from([16]), text.length), text.length, `lzma2 mutation ${i}`)]++;
    }
    assert.equal(outcomes.decoded + outcomes.damaged, 1200);
    assert.ok(outcomes.damaged > 0, 'some noise is found damaged');
  });
});
