// The `tls_ca_file` setting: a PEM bundle the relay trusts, refused by check-config, start and reload when unusable.
import { s } from '../config/schema.ts';
import { caFileProblem } from './tls-trust.ts';

export const caFile = s.checked(s.string({ minLength: 1 }), (v, p, is) => {
  const problem = caFileProblem(v);
  if (problem) is.push({ path: p, message: problem });
});
