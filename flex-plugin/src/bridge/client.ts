// The plugin's one way to the bridge: GET routes with the tracer's Flex
// token, retried with exponential backoff and full jitter on network errors,
// 429 and 5xx (as flex-project-template's ApiService does), never on a
// refusal the tracer has to act on.

export interface CallerMatch {
  record_id: string;
  object: string;
  label: string;
}

export type Context = Record<string, any> & { crm?: Record<string, any> };

// BridgeError is a non-2xx answer (status > 0) or a network failure
// (status 0). message is the bridge's own user-safe {"error"} text.
export class BridgeError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'BridgeError';
    this.status = status;
  }
  // A refusal the tracer must see: not callable, unknown record, opted out.
  get refused(): boolean {
    return this.status >= 400 && this.status < 500 && this.status !== 429;
  }
}

export interface ClientOptions {
  baseUrl: string;
  token: () => string; // read on each call: Flex refreshes manager.user.token
  fetch?: typeof fetch;
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

const sleepReal = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class BridgeClient {
  private readonly o: Required<ClientOptions>;
  private wrapupCache?: Promise<string[]>;

  constructor(opts: ClientOptions) {
    if (!opts.baseUrl) throw new Error('bridge client: baseUrl is required');
    this.o = {
      fetch: (...args: Parameters<typeof fetch>) => fetch(...args),
      maxAttempts: 4,
      baseDelayMs: 200,
      maxDelayMs: 2000,
      timeoutMs: 8000,
      sleep: sleepReal,
      random: Math.random,
      ...opts,
      baseUrl: opts.baseUrl.replace(/\/+$/, ''),
    } as Required<ClientOptions>;
  }

  // The attributes click-to-call would put on the task (crm context, to, …).
  recordContext(recordId: string): Promise<Context> {
    return this.get<Context>(`/v1/records/${encodeURIComponent(recordId)}/context`);
  }

  // The records an inbound number belongs to (at most 10).
  async callers(phone: string): Promise<CallerMatch[]> {
    const out = await this.get<{ records: CallerMatch[] }>(`/v1/callers/${encodeURIComponent(phone)}`);
    return Array.isArray(out.records) ? out.records : [];
  }

  // The wrap-up panel's dispositions; fetched once per session, again after a failure.
  wrapup(): Promise<string[]> {
    if (!this.wrapupCache) {
      this.wrapupCache = this.get<{ dispositions: string[] }>('/v1/wrapup').then((r) =>
        Array.isArray(r.dispositions) ? r.dispositions : [],
      );
      this.wrapupCache.catch(() => {
        this.wrapupCache = undefined;
      });
    }
    return this.wrapupCache;
  }

  private async get<T>(path: string): Promise<T> {
    let last: BridgeError = new BridgeError(0, 'the bridge could not be reached');
    for (let attempt = 0; attempt < this.o.maxAttempts; attempt++) {
      if (attempt > 0) {
        const cap = Math.min(this.o.maxDelayMs, this.o.baseDelayMs * 2 ** (attempt - 1));
        await this.o.sleep(Math.floor(cap * this.o.random()));
      }
      try {
        return await this.once<T>(path);
      } catch (e) {
        last = e instanceof BridgeError ? e : new BridgeError(0, 'the bridge could not be reached');
        if (last.refused) throw last;
      }
    }
    throw last;
  }

  private async once<T>(path: string): Promise<T> {
    const ctl = typeof AbortController === 'undefined' ? undefined : new AbortController();
    const timer = ctl ? setTimeout(() => ctl.abort(), this.o.timeoutMs) : undefined;
    let res: Response;
    try {
      res = await this.o.fetch(this.o.baseUrl + path, {
        method: 'GET',
        headers: { Accept: 'application/json', 'X-Flex-Token': this.o.token() },
        signal: ctl?.signal,
      });
    } catch {
      throw new BridgeError(0, 'the bridge could not be reached');
    } finally {
      if (timer) clearTimeout(timer);
    }
    let body: any = undefined;
    try {
      body = await res.json();
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      const msg = body && typeof body.error === 'string' ? body.error : `the bridge answered ${res.status}`;
      throw new BridgeError(res.status, msg);
    }
    if (body === undefined) throw new BridgeError(res.status || 502, 'the bridge sent an unreadable answer');
    return body as T;
  }
}
