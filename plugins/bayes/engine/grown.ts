// Appending to a typed array: the token text and the learned-tokens record both grow theirs by doubling.

type Growable = Int32Array | Uint8Array | Uint16Array;

/** A new array of `a`'s kind, at least twice as long and at least `need` long, holding `a`'s first `used` elements. */
export function grown<T extends Growable>(a: T, need: number, used: number = a.length): T {
  let size = Math.max(1, a.length * 2);
  while (size < need) size *= 2;
  const b = new (a.constructor as new (n: number) => T)(size);
  b.set(a.subarray(0, used));
  return b;
}
