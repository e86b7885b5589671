// What a route of the admin HTTP listener sees and answers: kept small so a route never depends on node:http itself.

export interface HttpRequest {
  method: string;
  /** The URL's path, exactly as sent (not decoded): routes match it whole. */
  path: string;
  query: URLSearchParams;
  /** The body of a POST with a declared Content-Length (at most MAX_BODY_BYTES); empty for every other request. */
  body: Buffer;
  /**
   * The client's address, an IPv4-mapped IPv6 address given as the IPv4 address it is: the socket's peer, or behind a
   * trusted proxy the address it forwarded (forwarded.ts).
   */
  remoteAddress: string;
  /** Whether the client's connection is encrypted: TLS to this listener, or to a trusted proxy that says so. */
  tls: boolean;
  /** The request's headers as node reads them (names in lower case, repeats joined); absent in one made by hand. */
  headers?: Readonly<Record<string, string | string[] | undefined>>;
}

export interface HttpResponse {
  status: number;
  headers?: Record<string, string>;
  body: string | Buffer;
}

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Matched exactly against the request's path, without its query. */
  path: string;
  /** Open to every client; other routes answer only clients in http.allow_from (others get 403). */
  public?: boolean;
  handle(req: HttpRequest): Promise<HttpResponse>;
}
