// The quarantine pages' tests ask as a recipient's browser does: over HTTPS, trusting only the gateway's certificate,
// and following a 303 See Other with a GET of the page it names.
import https from 'node:https';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The 303 the request was answered with first, when it was; the rest of the answer is the page it led to. */
  redirect?: { status: number; location: string; url: string };
}

/** One request, its answer not followed (a 303 stays a 303); `headers` as a browser adds them (Origin, Sec-Fetch-Site). */
export function request(port: number, ca: Buffer, method: 'GET' | 'POST', target: string, form?: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, path: target, method, ca, servername: 'localhost', agent: false,
      headers: { ...headers, ...(form !== undefined ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(form) } : {}) },
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(form);
  });
}

/** A request to an HTTPS listener trusting only `ca`; a GET sends `fields` as the query, a POST as a form. */
export async function askForm(port: number, ca: Buffer, method: 'GET' | 'POST', p: string, fields: Record<string, string>): Promise<Answer> {
  const form = new URLSearchParams(fields).toString();
  const first = await request(port, ca, method, method === 'GET' ? `${p}?${form}` : p, method === 'POST' ? form : undefined);
  const location = first.headers.location;
  if (first.status !== 303 || typeof location !== 'string') return first;
  // As a browser resolves it: relative to the page that answered.
  const next = new URL(location, `https://localhost${p}`);
  const url = `${next.pathname}${next.search}`;
  return { ...await request(port, ca, 'GET', url), redirect: { status: first.status, location, url } };
}
