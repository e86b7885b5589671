// Delivery reports in the form Microsoft Exchange and Exchange Online (Microsoft 365) write them, written here for the
// tests (the wording is this project's, the layout Exchange's): multipart/report whose notice holds a paragraph of help,
// the administrators' diagnostics quoting the remote reply, and the original message's header section copied out in
// full; the notice as multipart/alternative (quoted-printable text and HTML) or as a bare HTML part; then the
// delivery-status part, then the returned message or its header section. Also the forgeries shaped like them.
import { userMail } from './delivery-reports.ts';

const CRLF = '\r\n';
const lines = (...l: string[]) => l.join(CRLF);

const SERVER = 'AM0PR02MB7421.eurprd02.prod.outlook.com';
const REPLY = '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup';
const OUTER = 'b5c4a0e2-9d1f-4c1e-8a6b-2f0e7d3c9a41';
const ALT = 'a91e0d4c-3b7f-4f2a-b6d8-5e1c0f9a7b23';

/** The user's mail as Exchange Online received it: its trace and authentication fields on top of the user's own. */
export function userMailAtExchange(subject?: string): string {
  return lines(
    `Received: from DB8EUR05FT031.eop-eur05.prod.protection.outlook.com (2603:10a6:10:2a::15) by ${SERVER}`,
    ' (2603:10a6:208:12a::14) with Microsoft SMTP Server (version=TLS1_2,',
    ' cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.7544.41; Tue, 14 May',
    ' 2024 07:12:44 +0000',
    'Received: from mail.example.com (198.51.100.25) by',
    ' DB8EUR05FT031.mail.protection.outlook.com (10.233.238.110) with Microsoft SMTP',
    ' Server (version=TLS1_3, cipher=TLS_AES_256_GCM_SHA384) id 15.20.7587.21 via',
    ' Frontend Transport; Tue, 14 May 2024 07:12:43 +0000',
    'Authentication-Results: spf=pass (sender IP is 198.51.100.25)',
    ' smtp.mailfrom=example.com; dkim=none (message not signed)',
    ' header.d=none;dmarc=pass action=none header.from=example.com;',
    'Received-SPF: Pass (protection.outlook.com: domain of example.com designates',
    ' 198.51.100.25 as permitted sender) receiver=protection.outlook.com;',
    ' client-ip=198.51.100.25; helo=mail.example.com; pr=C',
  ) + CRLF + userMail(subject);
}

/** The header section of `message` (up to its first empty line), as Exchange copies it into its notice. */
function headerSectionOf(message: string): string {
  return message.slice(0, message.indexOf(CRLF + CRLF) + 2);
}

/** `text` in quoted-printable, lines of at most 76 characters, as Exchange sends its notices. */
export function quotedPrintable(text: string): string {
  return text.split(CRLF).map((line) => {
    const encoded = line.replace(/[=\x00-\x08\x0b-\x1f\x7f-\xff]|[ \t]$/g, (c) => `=${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
    const out: string[] = [];
    let rest = encoded;
    while (rest.length > 76) {
      // Never split an escape: back up to before a `=` in the last two places.
      let cut = 75;
      if (rest[cut - 1] === '=') cut -= 1;
      else if (rest[cut - 2] === '=') cut -= 2;
      out.push(`${rest.slice(0, cut)}=`);
      rest = rest.slice(cut);
    }
    out.push(rest);
    return out.join(CRLF);
  }).join(CRLF);
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** What the forgery tests change in a notice: lines added to its help text, and the header section it quotes. */
export interface NoticeEdits {
  /** Lines after the help paragraph, in the text and (escaped, one paragraph) in the HTML. */
  extra?: string[];
  /** The header section the notice quotes, when it is not the returned message's. */
  quoted?: string;
  /** Markup put into the HTML's body as it stands, after the help paragraph. */
  html?: string;
}

const HELP = [
  'The address wasn\'t found by the organisation that receives mail for it. Check the spelling',
  'of the address and send the message again. If it fails again, ask your help desk.',
];

/** The plain-text notice: the help, the diagnostics, the quoted header section. */
function textNotice(quoted: string, e: NoticeEdits): string {
  return lines(
    'Delivery has failed to these recipients or groups:',
    '',
    'Bob Keller (bob@partner.test)',
    ...HELP,
    ...(e.extra ? ['', ...e.extra] : []),
    '',
    '',
    '',
    '',
    '',
    'Diagnostic information for administrators:',
    '',
    `Generating server: ${SERVER}`,
    '',
    'bob@partner.test',
    `Remote Server returned '${REPLY}'`,
    '',
    'Original message headers:',
    '',
    quoted,
  );
}

/** The HTML notice: the same, in Exchange's fonts, the header section in a <pre>. */
function htmlNotice(quoted: string, e: NoticeEdits): string {
  return lines(
    '<html>',
    '<head>',
    '<meta http-equiv="Content-Type" content="text/html; charset=us-ascii">',
    '<style type="text/css">',
    'p { margin-top: 0; margin-bottom: 0; }',
    '</style>',
    '</head>',
    '<body dir="ltr">',
    '<p><b><font color="#000066" size="3" face="Arial">Delivery has failed to these recipients or groups:</font></b></p>',
    '<font color="#000000" size="2" face="Tahoma"><p><a href="mailto:bob@partner.test">Bob Keller (bob@partner.test)</a><br>',
    '</font>',
    `<font color="#000000" size="3" face="Arial">${HELP.join(' ')}</font><br>`,
    ...(e.extra ? [`<p>${escapeHtml(e.extra.join(' '))}</p>`] : []),
    ...(e.html ? [e.html] : []),
    '<br>',
    '<br>',
    '<br>',
    '<br>',
    '<font color="#808080" size="2" face="Tahoma"><p><b>Diagnostic information for administrators:</b></p>',
    `<p>Generating server: ${SERVER}<br>`,
    '</p>',
    '<p>bob@partner.test<br>',
    `Remote Server returned &#39;${REPLY}&#39;<br>`,
    '</p>',
    '<p>Original message headers:</p>',
    `<pre>${escapeHtml(quoted)}</pre>`,
    '</font>',
    '</body>',
    '</html>',
  );
}

export interface ExchangeOptions extends NoticeEdits {
  /** The notice as text and HTML alternatives (Exchange Online's), or as one bare HTML part. */
  notice?: 'alternative' | 'html';
  /** Return the header section only (text/rfc822-headers) rather than the message. */
  headersOnly?: boolean;
  /** The message returned; the user's mail as Exchange received it unless given. */
  returned?: string;
  /** A Subject marker the tests find the relayed report by. */
  tag?: string;
}

/** Exchange Online's non-delivery report for the user's mail to a recipient it does not know. */
export function exchangeReport(o: ExchangeOptions = {}): string {
  const returned = (o.returned ?? userMailAtExchange()).replace(/\r?\n/g, CRLF);
  const quoted = o.quoted ?? headerSectionOf(returned);
  const text = ['Content-Type: text/plain; charset="us-ascii"', 'Content-Transfer-Encoding: quoted-printable', '', quotedPrintable(textNotice(quoted, o))];
  const html = ['Content-Type: text/html; charset="us-ascii"', 'Content-Transfer-Encoding: quoted-printable', '', quotedPrintable(htmlNotice(quoted, o))];
  const notice = o.notice === 'html' ? html : [
    `Content-Type: multipart/alternative; boundary="${ALT}"`, '', `--${ALT}`, ...text, '', `--${ALT}`, ...html, '', `--${ALT}--`, '',
  ];
  const returnedPart = o.headersOnly
    ? ['Content-Type: text/rfc822-headers', '', headerSectionOf(returned)]
    : ['Content-Type: message/rfc822', '', returned];
  return lines(
    `Received: from ${SERVER} (2603:10a6:208:12a::14) by`,
    ' DB8PR02MB5688.eurprd02.prod.outlook.com with Microsoft SMTP Server',
    ' (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.7544.41;',
    ' Tue, 14 May 2024 07:12:45 +0000',
    'From: Microsoft Outlook <postmaster@partner.test>',
    'To: <alice@example.com>',
    'Date: Tue, 14 May 2024 07:12:45 +0000',
    `Content-Type: multipart/report; report-type=delivery-status;`,
    `\tboundary="${OUTER}"`,
    'X-MS-Exchange-Message-Is-Ndr:',
    'Content-Language: en-US',
    `Message-ID: <6c0b2e17-4d3a-4f8e-9b21-7a5d0c3e1f84@${SERVER}>`,
    'In-Reply-To: <3f9c1a2e-7b41-4d2e-9a11-0c5e8f2d6b10@example.com>',
    'References: <3f9c1a2e-7b41-4d2e-9a11-0c5e8f2d6b10@example.com>',
    `Subject: Undeliverable: Minutes of Tuesday's budget review${o.tag ? ` ${o.tag}` : ''}`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    '',
    `--${OUTER}`,
    ...notice,
    `--${OUTER}`,
    'Content-Type: message/delivery-status',
    '',
    `Reporting-MTA: dns;${SERVER}`,
    'Received-From-MTA: dns;mail.example.com',
    'Arrival-Date: Tue, 14 May 2024 07:12:43 +0000',
    '',
    'Final-Recipient: rfc822;bob@partner.test',
    'Action: failed',
    'Status: 5.1.10',
    `Diagnostic-Code: smtp;${REPLY}`,
    'X-Display-Name: Bob Keller',
    '',
    '',
    `--${OUTER}`,
    ...returnedPart,
    '',
    `--${OUTER}--`,
    '',
  );
}
