// The quarantine pages' tests ask as a recipient's browser does: over HTTPS, trusting only the gateway's certificate.
import https from 'node:https';

export interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** A request to an HTTPS listener trusting only `ca`; a GET sends `fields` as the query, a POST as a form. */
export function askForm(port: number, ca: Buffer, method: 'GET' | 'POST', p: string, fields: Record<string, string>): Promise<Answer> {
  const form = new URLSearchParams(fields).toString();
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, path: method === 'GET' ? `${p}?${form}` : p, method, ca, servername: 'localhost', agent: false,
      headers: method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(form) } : {},
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(method === 'POST' ? form : undefined);
  });
}
