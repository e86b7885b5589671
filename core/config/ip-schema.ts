// The config value of an IP address or CIDR, judged by the code that builds the lists (core/net/cidr.ts), so that
// check-config names an entry such as 999.1.1.1 or 10.0.0.0/99 instead of a start that fails or a list that never matches.
import { s } from './schema.ts';
import { CidrList } from '../net/cidr.ts';

export const ipOrCidr = s.checked(s.string({ pattern: /^[0-9a-fA-F:.]+(\/\d{1,3})?$/, patternName: 'an IP address or CIDR such as 192.0.2.0/24' }), (v, p, is) => {
  try { new CidrList([v]); } catch { is.push({ path: p, message: `${JSON.stringify(v)} is not an IP address or CIDR such as 192.0.2.0/24` }); }
});
