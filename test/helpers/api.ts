/**
 * A thin HTTP client for Forge's REST API over Node's fetch. It keeps the session cookie from
 * POST /api/auth/login (or sends a Bearer token), and every call answers an ApiResponse with the
 * status, headers, raw text and parsed JSON body, so tests can assert on error answers as easily
 * as on successes. `json()` is the shortcut for calls that must succeed.
 */

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed JSON body, or undefined when the body is empty or not JSON. */
  body: T;
}

export interface RequestOptions {
  /** Sent as JSON with Content-Type: application/json. */
  json?: unknown;
  /** Sent as is (for malformed or oversized bodies); pair with `contentType`. */
  body?: string;
  contentType?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** 'manual' answers a redirect itself (status 3xx, Location) instead of following it. */
  redirect?: RequestRedirect;
}

export class ApiError extends Error {
  constructor(readonly method: string, readonly path: string, readonly response: ApiResponse) {
    super(`${method} ${path} answered ${response.status}: ${response.text.slice(0, 500)}`);
  }
}

export class ApiClient {
  private cookie: string | undefined;
  private token: string | undefined;

  /** `baseUrl` is the server root, e.g. http://127.0.0.1:3000 (paths passed to calls start with /api). */
  constructor(readonly baseUrl: string, auth: { token?: string; cookie?: string } = {}) {
    this.token = auth.token;
    this.cookie = auth.cookie;
  }

  /** A client with no credentials, for the same server. */
  anonymous(): ApiClient {
    return new ApiClient(this.baseUrl);
  }

  /** A client that authenticates with `Authorization: Bearer <token>`. */
  withToken(token: string): ApiClient {
    return new ApiClient(this.baseUrl, { token });
  }

  /** The session cookie (name=value) after login, if any. */
  get sessionCookie(): string | undefined {
    return this.cookie;
  }

  /** Logs in with {auth, password} and keeps the session cookie; throws ApiError on failure. */
  async login(auth: string, password: string): Promise<this> {
    const response = await this.request('POST', '/api/auth/login', { json: { auth, password } });
    if (response.status !== 204) throw new ApiError('POST', '/api/auth/login', response);
    const setCookie = response.headers.get('set-cookie') ?? '';
    const match = /forge_session=[^;]+/.exec(setCookie);
    if (!match) throw new Error(`login answered 204 without a forge_session cookie (set-cookie: ${setCookie})`);
    this.cookie = match[0];
    return this;
  }

  /** Request headers with this client's credentials (also handy for SSE or raw fetch calls). */
  authHeaders(): Record<string, string> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (this.cookie) headers.cookie = this.cookie;
    return headers;
  }

  async request<T = any>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...this.authHeaders(), ...(options.headers ?? {}) };
    let body: string | undefined;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] = 'application/json';
    } else if (options.body !== undefined) {
      body = options.body;
      headers['content-type'] = options.contentType ?? 'application/json';
    }
    const res = await fetch(this.baseUrl + path, { method, headers, body, signal: options.signal, redirect: options.redirect });
    const text = await res.text();
    let parsed: unknown;
    if (text && (res.headers.get('content-type') ?? '').includes('json')) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    return { status: res.status, headers: res.headers, text, body: parsed as T };
  }

  get<T = any>(path: string, options?: RequestOptions) {
    return this.request<T>('GET', path, options);
  }
  post<T = any>(path: string, json?: unknown, options: RequestOptions = {}) {
    return this.request<T>('POST', path, { ...options, json });
  }
  put<T = any>(path: string, json?: unknown, options: RequestOptions = {}) {
    return this.request<T>('PUT', path, { ...options, json });
  }
  delete<T = any>(path: string, options?: RequestOptions) {
    return this.request<T>('DELETE', path, options);
  }

  /** A call that must succeed (2xx): answers the parsed body, else throws ApiError with the answer. */
  async json<T = any>(method: string, path: string, json?: unknown): Promise<T> {
    const response = await this.request<T>(method, path, json === undefined ? {} : { json });
    if (response.status < 200 || response.status > 299) throw new ApiError(method, path, response);
    return response.body;
  }
}
