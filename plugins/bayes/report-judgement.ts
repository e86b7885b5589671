// What the plugin makes of a delivery report (delivery-report.ts) once it has scored the message the report returns:
// which band it gives, the note it leaves in the finding and the header, and whether the report may be learned.
import type { Band } from './config.ts';
import type { DeliveryReport } from './delivery-report.ts';

/** The finding, score 0, that says a message was judged as a delivery report and how. */
export const REPORT_SYMBOL = 'BAYES_DSN';

const RETURNED_AS = { message: 'returned message', headers: 'returned header section' } as const;

/**
 * The band a report gets from its returned message's band. A spam band stands: backscatter returns the spam that was
 * sent in our users' names, and a forger who puts spam there is judged by it. A ham band (negative score) is withheld:
 * whoever writes a report picks what it returns, so a spammer would put a ham message there to earn the credit.
 */
export function reportBand(band: Band | undefined): Band | undefined {
  return band && band.score >= 0 ? band : undefined;
}

/** The detail of BAYES_DSN: the report's form, what was scored and the band it gave, or why nothing was. */
export function reportNote(report: DeliveryReport, scored?: { shown: string; band: Band | undefined }): string {
  if (report.returned.kind === 'nothing') return `${report.format}: returns no message, not scored`;
  const what = RETURNED_AS[report.returned.kind];
  if (!scored) return `${report.format}: ${what}`;
  const given = reportBand(scored.band);
  const outcome = given ? `band ${given.symbol}` : scored.band ? `${scored.band.symbol} withheld (a report's ham band is not given)` : 'no band';
  return `${report.format}: ${what} scored p=${scored.shown}, ${outcome}`;
}

/** The X-Mailmoat-Bayes value of a report: the returned message's probability and what it is, or `none` and why. */
export function reportHeader(report: DeliveryReport, shown?: string): string {
  if (report.returned.kind === 'nothing' || shown === undefined) return 'none; delivery report returning no message';
  return `${shown}; ${RETURNED_AS[report.returned.kind]} of a delivery report`;
}

/**
 * Why a report is not learned, or null when its returned message may be. A verdict's lesson is never learned: the
 * verdict judged the report (its sender's address, its MTA), not the message inside it, and the wrapper's words are
 * the same in every bounce. A recipient's lesson (a honeypot's backscatter) is learned of the returned message when the
 * report returns it whole, never of the wrapper.
 */
export function reportLessonRefusal(report: DeliveryReport, fromRecipients: boolean): string | null {
  if (!fromRecipients) return `delivery report (${report.format}): a verdict judges the report, not the message it returns`;
  if (report.returned.kind !== 'message') {
    const what = report.returned.kind === 'headers' ? 'only its header section' : 'no message';
    return `delivery report (${report.format}) returning ${what}: only a whole returned message is learned, never the report's own text`;
  }
  return null;
}
