// Delivery-status notifications as real MTAs write them, each wrapped around a message it returns: Postfix's
// multipart/report, Gmail's (a notice with HTML and an icon), Exim's and qmail's plain-text bounces, and Postfix's
// older multipart/mixed form. Also a user's ordinary mail and a spam to be returned, and a report forged to carry spam.
// The notices' wording is the MTAs' own fixed text, since that wording is what the shipped dictionary misjudged.

const CRLF = '\r\n';
const lines = (...l: string[]) => l.join(CRLF);

/** The message body from the header section on, with CRLF line breaks whatever `raw` had. */
function crlf(raw: string): string {
  return raw.replace(/\r?\n/g, CRLF);
}

/** An ordinary message one of our users sent: the kind whose bounce must not be tagged. */
export function userMail(subject = 'Minutes of Tuesday\'s budget review'): string {
  return lines(
    'Received: from [10.1.2.7] (laptop.example.com [10.1.2.7])',
    '\tby mail.example.com (Postfix) with ESMTPSA id 7C1E2400A1',
    '\tfor <bob@partner.test>; Tue, 14 May 2024 09:12:40 +0200 (CEST)',
    'From: Alice Martin <alice@example.com>',
    'To: Bob Keller <bob@partner.test>',
    `Subject: ${subject}`,
    'Date: Tue, 14 May 2024 09:12:38 +0200',
    'Message-ID: <3f9c1a2e-7b41-4d2e-9a11-0c5e8f2d6b10@example.com>',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=UTF-8; format=flowed',
    'Content-Transfer-Encoding: 7bit',
    '',
    'Hi Bob,',
    '',
    'thanks for joining the review yesterday. As agreed, the travel budget',
    'stays at last year\'s level and Karin will send the revised figures for',
    'the second quarter by Friday. Could you check the numbers for the Basel',
    'office before then? The spreadsheet is on the shared drive, in the',
    'finance folder, under "Q2 revised".',
    '',
    'We meet again next Tuesday at 10:00 in the small meeting room; I will',
    'book the video link for Martin, who is travelling.',
    '',
    'Best regards,',
    'Alice',
    '',
    '-- ',
    'Alice Martin, Finance, Example Ltd.',
    '',
  );
}

/** A spam sent with one of our users' addresses forged as its sender: what backscatter returns. */
export function forgedSpam(): string {
  return lines(
    'Received: from unknown (HELO 203.0.113.77) (203.0.113.77)',
    '\tby mx.partner.test with SMTP; Tue, 14 May 2024 03:44:10 -0000',
    'From: "Pharmacy Online" <alice@example.com>',
    'To: bob@partner.test',
    'Subject: Cheapest V1agra and Cialis - 80% OFF, no prescription!!!',
    'Date: Tue, 14 May 2024 03:44:02 -0000',
    'Message-ID: <20240514034402.19234.qmail@203.0.113.77>',
    'MIME-Version: 1.0',
    'Content-Type: text/html; charset=iso-8859-1',
    '',
    '<html><body><font size=4 color=red><b>Best prices on the net!!</b></font><br>',
    'Viagra, Cialis, Levitra, Xanax, Valium - all at 80% OFF.<br>',
    'No prescription needed, FREE worldwide shipping, 100% discreet.<br>',
    '<a href="http://cheap-meds-4u.example.biz/?id=8812">CLICK HERE to order now</a><br>',
    'Limited time offer, act now! Satisfaction guaranteed or your money back.<br>',
    '<font size=1>To be removed from our mailing list <a href="http://cheap-meds-4u.example.biz/remove">click here</a></font>',
    '</body></html>',
    '',
  );
}

/** Received and the envelope of the report's own trip, as the bouncing MTA writes them. */
interface ReportOptions {
  /** The message the report returns (RFC 5322 text); omitted: the report returns nothing. */
  returned?: string;
  /** Return the returned message's header section only (text/rfc822-headers, or Exim's "headers" copy). */
  headersOnly?: boolean;
  /** A Subject marker the tests find the relayed report by. */
  tag?: string;
}

/** The header section of `returned` (up to its first empty line). */
function headerSection(returned: string): string {
  const raw = crlf(returned);
  const end = raw.indexOf(CRLF + CRLF);
  return end < 0 ? raw : raw.slice(0, end + 2);
}

/** Postfix 3's delivery-status notification: multipart/report with a notice, a delivery-status part and the message. */
export function postfixReport(o: ReportOptions = {}): string {
  const b = '4VdJ2x0Q1Fz9vJ.1715670763/mx.partner.test';
  const returnedPart = o.returned === undefined ? [] : o.headersOnly
    ? ['', `--${b}`, 'Content-Description: Undelivered Message Headers', 'Content-Type: text/rfc822-headers', 'Content-Transfer-Encoding: 8bit', '', headerSection(o.returned)]
    : ['', `--${b}`, 'Content-Description: Undelivered Message', 'Content-Type: message/rfc822', 'Content-Transfer-Encoding: 8bit', '', crlf(o.returned)];
  return lines(
    'Received: by mx.partner.test (Postfix)',
    '\tid 4VdJ2x0Q1Fz9vJ; Tue, 14 May 2024 09:12:43 +0200 (CEST)',
    'Date: Tue, 14 May 2024 09:12:43 +0200 (CEST)',
    'From: MAILER-DAEMON@mx.partner.test (Mail Delivery System)',
    `Subject: Undelivered Mail Returned to Sender${o.tag ? ` ${o.tag}` : ''}`,
    'To: alice@example.com',
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status;',
    `\tboundary="${b}"`,
    'Content-Transfer-Encoding: 8bit',
    'Message-Id: <20240514071243.4VdJ2x0Q1Fz9vJ@mx.partner.test>',
    '',
    'This is a MIME-encapsulated message.',
    '',
    `--${b}`,
    'Content-Description: Notification',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'This is the mail system at host mx.partner.test.',
    '',
    'I\'m sorry to have to inform you that your message could not',
    'be delivered to one or more recipients. It\'s attached below.',
    '',
    'For further assistance, please send mail to postmaster.',
    '',
    'If you do so, please include this problem report. You can',
    'delete your own text from the attached returned message.',
    '',
    '                   The mail system',
    '',
    '<bob@partner.test>: host mail.partner.test[192.0.2.25] said: 550 5.1.1',
    '    <bob@partner.test>: Recipient address rejected: User unknown in local',
    '    recipient table (in reply to RCPT TO command)',
    '',
    `--${b}`,
    'Content-Description: Delivery report',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.partner.test',
    'X-Postfix-Queue-ID: 4VdJ2x0Q1Fz9vJ',
    'X-Postfix-Sender: rfc822; alice@example.com',
    'Arrival-Date: Tue, 14 May 2024 09:12:41 +0200 (CEST)',
    '',
    'Final-Recipient: rfc822; bob@partner.test',
    'Original-Recipient: rfc822;bob@partner.test',
    'Action: failed',
    'Status: 5.1.1',
    'Remote-MTA: dns; mail.partner.test',
    'Diagnostic-Code: smtp; 550 5.1.1 <bob@partner.test>: Recipient address',
    '    rejected: User unknown in local recipient table',
    ...returnedPart,
    '',
    `--${b}--`,
    '',
  );
}

/** Gmail's "Delivery Status Notification (Failure)": the notice as text and HTML with an icon, then the report. */
export function gmailReport(o: ReportOptions = {}): string {
  const outer = '000000000000c3a1b20618678e21';
  const related = '000000000000c3d5c80618678e2a';
  const alt = '000000000000c3d5c30618678e29';
  const returnedPart = o.returned === undefined ? [] : o.headersOnly
    ? [`--${outer}`, 'Content-Type: text/rfc822-headers', '', headerSection(o.returned)]
    : [`--${outer}`, 'Content-Type: message/rfc822', '', crlf(o.returned)];
  return lines(
    'Received: by 2002:a05:6402:1d4b:b0:572:4e9b:1b33 with SMTP id dm11csp1442853edb;',
    '        Tue, 14 May 2024 00:12:44 -0700 (PDT)',
    'From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>',
    'To: alice@example.com',
    'Auto-Submitted: auto-replied',
    `Subject: Delivery Status Notification (Failure)${o.tag ? ` ${o.tag}` : ''}`,
    'References: <3f9c1a2e-7b41-4d2e-9a11-0c5e8f2d6b10@example.com>',
    'In-Reply-To: <3f9c1a2e-7b41-4d2e-9a11-0c5e8f2d6b10@example.com>',
    'X-Failed-Recipients: bob@partner.test',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; boundary="${outer}"; report-type=delivery-status`,
    'Date: Tue, 14 May 2024 00:12:44 -0700 (PDT)',
    'Message-ID: <66430f7c.050a0220.7d5e1.1b3eGMR@mx.google.com>',
    '',
    `--${outer}`,
    `Content-Type: multipart/related; boundary="${related}"`,
    '',
    `--${related}`,
    `Content-Type: multipart/alternative; boundary="${alt}"`,
    '',
    `--${alt}`,
    'Content-Type: text/plain; charset="UTF-8"',
    '',
    '',
    '** Address not found **',
    '',
    'Your message wasn\'t delivered to bob@partner.test because the address couldn\'t be found, or is unable to receive mail.',
    '',
    'Learn more here: https://support.google.com/mail/?p=NoSuchUser',
    '',
    'The response was:',
    '',
    '550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient\'s email address for typos or unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser',
    '',
    `--${alt}`,
    'Content-Type: text/html; charset="UTF-8"',
    '',
    '',
    '<html>',
    '<head>',
    '<style>',
    '* {',
    'font-family:Roboto, "Helvetica Neue", Helvetica, Arial, sans-serif;',
    '}',
    '</style>',
    '</head>',
    '<body>',
    '<table cellpadding="0" cellspacing="0" class="email-wrapper" style="padding-top:32px;background-color:#ffffff;"><tbody>',
    '<tr><td>',
    '<table cellpadding=0 cellspacing=0><tbody>',
    '<tr><td style="max-width:560px;padding:24px 24px 32px;background-color:#fafafa;border:1px solid #e0e0e0;border-radius:2px">',
    '<img style="padding:0 24px 16px 0;float:left" width=72 height=72 alt="Error Icon" src="cid:icon.png">',
    '<table style="min-width:272px;padding-top:8px"><tbody>',
    '<tr><td><h2 style="font-size:20px;color:#212121;font-weight:bold;margin:0">Address not found</h2></td></tr>',
    '<tr><td style="padding-top:20px;color:#757575;font-size:16px;font-weight:normal;text-align:left">',
    'Your message wasn\'t delivered to <a style=\'color:#212121;text-decoration:none\'><b>bob@partner.test</b></a> because the address couldn\'t be found, or is unable to receive mail.',
    '</td></tr>',
    '<tr><td style="padding-top:24px;color:#4285F4;font-size:14px;font-weight:bold;text-align:left">',
    '<a style="text-decoration:none" href="https://support.google.com/mail/?p=NoSuchUser">LEARN MORE</a>',
    '</td></tr>',
    '</tbody></table>',
    '</td></tr>',
    '</tbody></table>',
    '</td></tr>',
    '<tr style="border:none;background-color:#fff;font-size:12.8px;width:90%">',
    '<td align="left" style="padding:48px 10px">',
    'The response was:<br/>',
    '<p style="font-family:monospace">',
    '550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient&#39;s email address for typos or unnecessary spaces.',
    '</p>',
    '</td>',
    '</tr>',
    '</tbody></table>',
    '</body>',
    '</html>',
    '',
    `--${alt}--`,
    `--${related}`,
    'Content-Type: image/png; name="icon.png"',
    'Content-Disposition: attachment; filename="icon.png"',
    'Content-Transfer-Encoding: base64',
    'Content-ID: <icon.png>',
    '',
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
    `--${related}--`,
    `--${outer}`,
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; googlemail.com',
    'Received-From-MTA: dns; alice@example.com',
    'Arrival-Date: Tue, 14 May 2024 00:12:42 -0700 (PDT)',
    'X-Original-Message-ID: <3f9c1a2e-7b41-4d2e-9a11-0c5e8f2d6b10@example.com>',
    '',
    'Final-Recipient: rfc822; bob@partner.test',
    'Action: failed',
    'Status: 5.1.1',
    'Remote-MTA: dns; mail.partner.test. (192.0.2.25, the server for the domain partner.test.)',
    'Diagnostic-Code: smtp; 550 5.1.1 The email account that you tried to reach does not exist.',
    'Last-Attempt-Date: Tue, 14 May 2024 00:12:44 -0700 (PDT)',
    '',
    ...returnedPart,
    `--${outer}--`,
    '',
  );
}

/** Exim's plain-text "Mail delivery failed" bounce, the returned message after its copy line. */
export function eximBounce(o: ReportOptions = {}): string {
  const copy = o.returned === undefined ? [] : o.headersOnly
    ? ['------ This is a copy of the message\'s headers. ------', '', headerSection(o.returned)]
    : ['------ This is a copy of the message, including all the headers. ------', '', 'Return-path: <alice@example.com>', crlf(o.returned)];
  return lines(
    'Received: from Debian-exim by mx.partner.test with local (Exim 4.96)',
    '\tid 1s6m0Z-0004Qx-2M',
    '\tfor alice@example.com; Tue, 14 May 2024 09:12:43 +0200',
    'X-Failed-Recipients: bob@partner.test',
    'Auto-Submitted: auto-replied',
    'From: Mail Delivery System <Mailer-Daemon@mx.partner.test>',
    'To: alice@example.com',
    `Subject: Mail delivery failed: returning message to sender${o.tag ? ` ${o.tag}` : ''}`,
    'Message-Id: <E1s6m0Z-0004Qx-2M@mx.partner.test>',
    'Date: Tue, 14 May 2024 09:12:43 +0200',
    '',
    'This message was created automatically by mail delivery software.',
    '',
    'A message that you sent could not be delivered to one or more of its',
    'recipients. This is a permanent error. The following address(es) failed:',
    '',
    '  bob@partner.test',
    '    host mail.partner.test [192.0.2.25]',
    '    SMTP error from remote mail server after RCPT TO:<bob@partner.test>:',
    '    550 5.1.1 <bob@partner.test>: Recipient address rejected: User unknown in local recipient table',
    '',
    ...copy,
    '',
  );
}

/** qmail-send's bounce: plain text, the returned message below its line. */
export function qmailBounce(o: ReportOptions = {}): string {
  return lines(
    'Received: (qmail 19234 invoked for bounce); 14 May 2024 07:12:43 -0000',
    'Date: 14 May 2024 07:12:43 -0000',
    'From: MAILER-DAEMON@mx.partner.test',
    'To: alice@example.com',
    `Subject: failure notice${o.tag ? ` ${o.tag}` : ''}`,
    '',
    'Hi. This is the qmail-send program at mx.partner.test.',
    'I\'m afraid I wasn\'t able to deliver your message to the following addresses.',
    'This is a permanent error; I\'ve given up. Sorry it didn\'t work out.',
    '',
    '<bob@partner.test>:',
    'Sorry, no mailbox here by that name. (#5.1.1)',
    '',
    ...(o.returned === undefined ? [] : ['--- Below this line is a copy of the message.', '', 'Return-Path: <alice@example.com>', crlf(o.returned)]),
    '',
  );
}

/** Postfix before RFC 3464 reports (1.x): multipart/mixed, the notice and the returned message. */
export function oldPostfixBounce(o: ReportOptions = {}): string {
  const b = '7C1E2400A1.1715670763/mx.partner.test';
  return lines(
    'Date: Tue, 14 May 2024 09:12:43 +0200 (CEST)',
    'From: MAILER-DAEMON@mx.partner.test (Mail Delivery System)',
    `Subject: Undelivered Mail Returned to Sender${o.tag ? ` ${o.tag}` : ''}`,
    'To: alice@example.com',
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${b}"`,
    'Content-Transfer-Encoding: 8bit',
    '',
    'This is a MIME-encapsulated message.',
    '',
    `--${b}`,
    'Content-Description: Notification',
    'Content-Type: text/plain',
    '',
    'This is the Postfix program at host mx.partner.test.',
    '',
    'I\'m sorry to have to inform you that the message returned',
    'below could not be delivered to one or more destinations.',
    '',
    'For further assistance, please send mail to <postmaster>',
    '',
    'If you do so, please include this problem report. You can',
    'delete your own text from the message returned below.',
    '',
    '\t\t\tThe Postfix program',
    '',
    '<bob@partner.test>: host mail.partner.test[192.0.2.25] said: 550 User unknown',
    '',
    ...(o.returned === undefined ? [] : [`--${b}`, 'Content-Description: Undelivered Message', 'Content-Type: message/rfc822', '', crlf(o.returned), '']),
    `--${b}--`,
    '',
  );
}

/**
 * A spammer's report: Postfix's wrapper with its spam in the notice, a ham message as the "returned" one, and an
 * attachment when `attach` says so.
 */
export function forgedReport(o: { tag?: string; attach?: boolean } = {}): string {
  const genuine = postfixReport({ returned: userMail(), tag: o.tag });
  const withSpam = genuine.replace('This is the mail system at host mx.partner.test.',
    'This is the mail system at host mx.partner.test.\r\n\r\nBest prices on Viagra and Cialis, 80% OFF, no prescription needed!\r\nOrder now at http://cheap-meds-4u.example.biz/?id=8812 - FREE shipping, act now!');
  if (!o.attach) return withSpam;
  const b = '4VdJ2x0Q1Fz9vJ.1715670763/mx.partner.test';
  return withSpam.replace(`--${b}--`, lines(`--${b}`, 'Content-Type: application/zip; name="invoice.zip"', 'Content-Disposition: attachment; filename="invoice.zip"', 'Content-Transfer-Encoding: base64', '', 'UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==', '', `--${b}--`));
}

/**
 * The spam of the walkthrough as a notice's text: what scores BAYES_SPAM_99 as ordinary mail, written where a reader
 * of a forged report sees it.
 */
const SPAM_TEXT = lines(
  'Best prices on the net!! Viagra, Cialis, Levitra, Xanax, Valium - all at 80% OFF.',
  'No prescription needed, FREE worldwide shipping, 100% discreet.',
  'CLICK HERE to order now: http://cheap-meds-4u.example.biz/?id=8812',
  'Limited time offer, act now! Satisfaction guaranteed or your money back.',
  'To be removed from our mailing list go to http://cheap-meds-4u.example.biz/remove',
);
const SPAM_HTML = `<html><body><font size=4 color=red><b>Best prices on the net!!</b></font><br>${SPAM_TEXT.replace(/\r\n/g, '<br>')}</body></html>`;
const POSTFIX_OPENING = 'This is the mail system at host mx.partner.test.';
const FORGED_BOUNDARY = '4VdJ2x0Q1Fz9vJ.1715670763/mx.partner.test';

/** Postfix's report with its notice part (from its Content-Description line to the next delimiter) replaced. */
function withNotice(raw: string, part: string[]): string {
  const at = raw.indexOf('Content-Description: Notification');
  const end = raw.indexOf(`\r\n--${FORGED_BOUNDARY}`, at);
  return raw.slice(0, at) + lines(...part) + raw.slice(end);
}

/**
 * The walkthrough's forged reports, each from the null sender with the spam where a reader sees it: in the notice
 * (plain, HTML, or the HTML of an alternative), with ham, nothing or a header section returned, the notice after the
 * returned message, and Exim's text form.
 */
export const forgedForms: Record<string, (tag: string) => string> = {
  'spam in the notice, ham returned': (tag) => postfixReport({ returned: userMail(), tag }).replace(POSTFIX_OPENING, `${POSTFIX_OPENING}\r\n\r\n${SPAM_TEXT}`),
  'spam in the notice, nothing returned': (tag) => postfixReport({ tag }).replace(POSTFIX_OPENING, `${POSTFIX_OPENING}\r\n\r\n${SPAM_TEXT}`),
  'spam in the notice, headers returned': (tag) => postfixReport({ returned: userMail(), headersOnly: true, tag }).replace(POSTFIX_OPENING, `${POSTFIX_OPENING}\r\n\r\n${SPAM_TEXT}`),
  'an HTML notice': (tag) => withNotice(postfixReport({ returned: userMail(), tag }), ['Content-Type: text/html; charset=us-ascii', '', SPAM_HTML]),
  'a multipart/alternative notice': (tag) => {
    const raw = postfixReport({ returned: userMail(), tag });
    const notice = /Content-Type: text\/plain; charset=us-ascii\r\n\r\n([\s\S]*?)\r\n--4VdJ/.exec(raw)![1];
    return withNotice(raw, ['Content-Type: multipart/alternative; boundary="alt-1"', '', '--alt-1', 'Content-Type: text/plain; charset=us-ascii', '', notice,
      '--alt-1', 'Content-Type: text/html; charset=us-ascii', '', SPAM_HTML, '--alt-1--']);
  },
  'the notice after the returned message': (tag) => {
    const raw = postfixReport({ returned: userMail(), tag });
    const at = raw.indexOf('Content-Description: Notification');
    const end = raw.indexOf(`\r\n--${FORGED_BOUNDARY}`, at);
    const close = raw.lastIndexOf(`--${FORGED_BOUNDARY}--`);
    const notice = lines('Content-Type: text/plain; charset=us-ascii', '', SPAM_TEXT, '');
    return raw.slice(0, at) + raw.slice(end + 2 + `--${FORGED_BOUNDARY}\r\n`.length, close) + `--${FORGED_BOUNDARY}\r\n${notice}\r\n` + raw.slice(close);
  },
  'Exim\'s text form': (tag) => eximBounce({ returned: userMail(), tag }).replace('  bob@partner.test\r\n', `  bob@partner.test\r\n\r\n${SPAM_TEXT}\r\n`),
};
