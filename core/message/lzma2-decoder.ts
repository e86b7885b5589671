// LZMA2 is LZMA cut in chunks, each with a small header of its own: a chunk is stored or compressed, and says what
// starts afresh with it (the dictionary, the properties, the models). A chunk states its sizes, so the decoding is held
// to them and to the size the archive declares: more output than declared, or a chunk that says nothing of what it
// needs (no dictionary reset or properties first), is LzmaDamaged.
import { LzmaDecoder, lzmaProperties } from './lzma-decoder.ts';
import { LzmaDamaged, RangeDecoder } from './range-decoder.ts';

/** The largest dictionary-size property (4 GB less one): a larger one is no LZMA2. */
const MAX_DICTIONARY_PROPERTY = 40;
/** LZMA2 keeps lc + lp to this. */
const MAX_LITERAL_CONTEXT_BITS = 4;

const END_OF_STREAM = 0x00;
const STORED_AND_DICTIONARY_RESET = 0x01;
const STORED = 0x02;
const COMPRESSED = 0x80;
// What a compressed chunk resets, from its control byte's bits 5 and 6.
const RESETS_STATE = 1;
const RESETS_PROPERTIES = 2;
const RESETS_DICTIONARY = 3;

/** The `size` bytes the LZMA2 stream `input` decodes to (its one property byte, as 7z stores it, sizes its window). */
export function decodeLzma2(input: Buffer, properties: Buffer, size: number): Buffer {
  if (properties.length < 1 || properties[0] > MAX_DICTIONARY_PROPERTY) throw new LzmaDamaged('its dictionary size property is out of range');
  const decoder = new LzmaDecoder(Buffer.alloc(size));
  let at = 0;
  let needDictionary = true;
  let needProperties = true;
  const take = (n: number): Buffer => {
    if (n > input.length - at) throw new LzmaDamaged('a chunk runs past the end of the stream');
    at += n;
    return input.subarray(at - n, at);
  };
  for (;;) {
    const control = take(1)[0];
    if (control === END_OF_STREAM) break;
    if (control === STORED_AND_DICTIONARY_RESET || control === STORED) {
      if (control === STORED_AND_DICTIONARY_RESET) { decoder.resetDictionary(); needDictionary = false; }
      else if (needDictionary) throw new LzmaDamaged('its first chunk does not start a dictionary');
      decoder.appendStored(take(take(2).readUInt16BE(0) + 1));
      continue;
    }
    if (control < COMPRESSED) throw new LzmaDamaged(`a chunk of unknown kind ${control}`);
    const sizes = take(4);
    const unpacked = (control & 0x1f) * 0x10000 + sizes.readUInt16BE(0) + 1;
    const packed = sizes.readUInt16BE(2) + 1;
    const resets = (control >>> 5) & 3;
    if (resets === RESETS_DICTIONARY) { decoder.resetDictionary(); needDictionary = false; }
    else if (needDictionary) throw new LzmaDamaged('its first chunk does not start a dictionary');
    if (resets >= RESETS_PROPERTIES) {
      const p = lzmaProperties(take(1)[0]);
      if (p.lc + p.lp > MAX_LITERAL_CONTEXT_BITS) throw new LzmaDamaged(`a chunk's literal context of ${p.lc + p.lp} bits is over LZMA2's ${MAX_LITERAL_CONTEXT_BITS}`);
      decoder.setProperties(p);
      needProperties = false;
    } else if (needProperties) throw new LzmaDamaged('a compressed chunk comes before any properties');
    if (resets >= RESETS_STATE) decoder.resetState();
    if (unpacked > size - decoder.written) throw new LzmaDamaged('it holds more than its stated size');
    const chunk = take(packed);
    decoder.decode(new RangeDecoder(chunk), decoder.written + unpacked);
  }
  if (decoder.written !== size) throw new LzmaDamaged(`it ends after ${decoder.written} of its ${size} bytes`);
  return decoder.out;
}
