// The mark on the gateway's own notices, so that a notice that comes back in (an admin address whose mail is routed
// through the gateway again) matches no notify rule into a notice about a notice. It is an HMAC of the notice's
// Message-ID under a key kept in data_dir: a sender who writes the field into their own mail, hoping to go unreported,
// cannot make one that holds.
import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import path from 'node:path';
import type { HeaderList } from '../../core/index.ts';
import { loadSealKey } from '../../core/queue/envelope-seal.ts';

export const NOTICE_FIELD = 'X-Mailmoat-Rule-Notice';
const KEY_FILE = 'rules-notice.key';

const MARK = /(?:^|;)\s*mac=([A-Za-z0-9_-]{43})\s*(?:;|$)/;

export class NoticeMarker {
  private readonly key: KeyObject;

  constructor(key: KeyObject) { this.key = key; }

  /** The key of data_dir, made on first use (0600), so that a restart still knows the notices sent before it. */
  static forDataDir(dataDir: string): NoticeMarker {
    return new NoticeMarker(loadSealKey(path.join(dataDir, KEY_FILE)));
  }

  private mac(messageId: string): Buffer {
    return createHmac('sha256', this.key).update(`mailmoat rule notice\0${messageId.replace(/\s+/g, '')}`).digest();
  }

  /** The field's value for a notice of `rule` whose Message-ID is `messageId`. */
  value(rule: string, messageId: string): string {
    return `rule=${rule}; mac=${this.mac(messageId).toString('base64url')}`;
  }

  /** Whether the message is one of ours: a mark that holds for its own Message-ID. */
  marks(headers: HeaderList): boolean {
    const id = headers.first('Message-ID');
    if (!id) return false;
    const expected = this.mac(id);
    return headers.all(NOTICE_FIELD).some((v) => {
      const m = MARK.exec(v.replace(/\s+/g, ' '));
      if (!m) return false;
      const given = Buffer.from(m[1], 'base64url');
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
  }
}
