// A scripted fetch for the bridge client: routes answer from a table, and
// every request is recorded with its headers.
export type Answer = { status: number; body?: unknown } | 'network-error';

export class FakeBridge {
  readonly requests: { url: string; headers: Record<string, string> }[] = [];
  routes: Record<string, Answer | Answer[]> = {};

  fetch = async (url: string, init?: { headers?: Record<string, string> }): Promise<Response> => {
    this.requests.push({ url, headers: { ...(init?.headers ?? {}) } });
    const path = new URL(url).pathname;
    let a = this.routes[path];
    if (Array.isArray(a)) a = a.length > 1 ? a.shift()! : a[0];
    if (!a) a = { status: 404, body: { error: 'no route' } };
    if (a === 'network-error') throw new TypeError('Failed to fetch');
    const { status, body } = a;
    return {
      ok: status >= 200 && status < 300,
      status,
      json: async () => {
        if (body === undefined) throw new SyntaxError('Unexpected end of JSON input');
        return JSON.parse(JSON.stringify(body));
      },
    } as unknown as Response;
  };

  calls(path: string): number {
    return this.requests.filter((r) => new URL(r.url).pathname === path).length;
  }
}
