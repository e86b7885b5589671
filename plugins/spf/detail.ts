// The finding detail of an SPF result: a documented, parseable line that the dmarc plugin reads back.
//
//   <result> identity=<mailfrom|helo> domain=<domain> ip=<ip>[ mechanism=<term>][ broad=yes][ guess=<result>][ local_policy=yes][ problem="<text>"]
//
// Every value but `problem` is free of spaces (SPF terms and domains have none); `problem` comes last, quoted.
import { BROAD_MARK } from './broad.ts';
import type { SpfEvaluation } from './lib/types.ts';
import type { Identity } from './scores.ts';

export function formatDetail(identity: Identity, ip: string, r: SpfEvaluation): string {
  let out = `${r.result} identity=${identity} domain=${r.domain || '-'} ip=${ip}`;
  if (r.mechanism) out += ` mechanism=${r.mechanism}`;
  if (r.broad) out += ` ${BROAD_MARK}`;
  if (r.guess) out += ` guess=${r.guess}`;
  if (r.localPolicy) out += ' local_policy=yes';
  if (r.problem) out += ` problem="${r.problem.replace(/["\r\n]/g, "'")}"`;
  return out;
}
