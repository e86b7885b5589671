// How the spf plugin marks a pass that vouches for no client (`broad=yes`, README "The finding detail"), read here
// by the plugins that must not trust one (greylist, user-lists), so that they follow the mark if it changes.
import type { Finding } from '../../core/index.ts';

/** The word detail.ts writes into a broad pass's detail. */
export const BROAD_MARK = 'broad=yes';

const MARKED = new RegExp(` ${BROAD_MARK}(?: |$)`);

/**
 * Whether `f` is an SPF pass the spf plugin marked broad: the domain authorises (nearly) every address, as `+all`
 * does, so the pass says nothing about this client and a spammer's own domain would earn it at will.
 */
export function isBroadSpfPass(f: Finding): boolean {
  return MARKED.test(f.detail ?? '');
}
