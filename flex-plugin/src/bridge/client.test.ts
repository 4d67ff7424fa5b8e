import { BridgeClient, BridgeError } from './client';
import { FakeBridge } from '../../test/fakes/bridge';

function client(fb: FakeBridge, sleeps: number[] = [], token = () => 't1') {
  return new BridgeClient({
    baseUrl: 'https://bridge.example.org//',
    token,
    fetch: fb.fetch as unknown as typeof fetch,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
  });
}

describe('BridgeClient', () => {
  it('sends the Flex token on every call, read fresh each time', async () => {
    const fb = new FakeBridge();
    fb.routes['/v1/records/003RM00000Qx1a2YAB/context'] = { status: 200, body: { crm: { record_id: '003RM00000Qx1a2YAB' } } };
    let tok = 'first';
    const c = client(fb, [], () => tok);
    await c.recordContext('003RM00000Qx1a2YAB');
    tok = 'refreshed';
    await c.recordContext('003RM00000Qx1a2YAB');
    expect(fb.requests.map((r) => r.headers['X-Flex-Token'])).toEqual(['first', 'refreshed']);
    expect(fb.requests[0].url).toBe('https://bridge.example.org/v1/records/003RM00000Qx1a2YAB/context');
  });

  it('escapes path parameters', async () => {
    const fb = new FakeBridge();
    fb.routes['/v1/callers/%2B1%20(718)%20555-0199'] = { status: 200, body: { records: [] } };
    await expect(client(fb).callers('+1 (718) 555-0199')).resolves.toEqual([]);
    expect(fb.requests[0].url).toContain('/v1/callers/%2B1%20(718)%20555-0199');
  });

  it('retries network errors, 429 and 5xx with jittered exponential backoff', async () => {
    const fb = new FakeBridge();
    fb.routes['/v1/wrapup'] = ['network-error', { status: 503, body: { error: 'x' } }, { status: 429 }, { status: 200, body: { dispositions: ['Reached'] } }];
    const sleeps: number[] = [];
    await expect(client(fb, sleeps).wrapup()).resolves.toEqual(['Reached']);
    expect(fb.calls('/v1/wrapup')).toBe(4);
    // full jitter (random 0.5) of 200, 400, 800 ms
    expect(sleeps).toEqual([100, 200, 400]);
  });

  it('gives up after the last attempt with the last error', async () => {
    const fb = new FakeBridge();
    fb.routes['/v1/wrapup'] = { status: 503, body: { error: 'Salesforce is unavailable; try again' } };
    const err = await client(fb).wrapup().catch((e) => e);
    expect(err).toBeInstanceOf(BridgeError);
    expect(err.status).toBe(503);
    expect(err.refused).toBe(false);
    expect(fb.calls('/v1/wrapup')).toBe(4);
  });

  it('never retries a refusal, and passes the bridge message on', async () => {
    const fb = new FakeBridge();
    fb.routes['/v1/records/003RM00000Qx1a2YAB/context'] = {
      status: 422,
      body: { error: 'the record has no callable number in MobilePhone (click_to_call.attributes.to)' },
    };
    const err = await client(fb).recordContext('003RM00000Qx1a2YAB').catch((e) => e);
    expect(err.refused).toBe(true);
    expect(err.message).toContain('MobilePhone');
    expect(fb.requests).toHaveLength(1);
  });

  it('caches dispositions once fetched, and fetches again after a failure', async () => {
    const fb = new FakeBridge();
    fb.routes['/v1/wrapup'] = [{ status: 401, body: { error: 'bad token' } }, { status: 200, body: { dispositions: ['A'] } }];
    const c = client(fb);
    await expect(c.wrapup()).rejects.toThrow('bad token');
    await expect(c.wrapup()).resolves.toEqual(['A']);
    await expect(c.wrapup()).resolves.toEqual(['A']);
    expect(fb.calls('/v1/wrapup')).toBe(2);
  });

  it('treats an unreadable answer as an error, not data', async () => {
    const fb = new FakeBridge();
    fb.routes['/v1/callers/%2B17185550199'] = { status: 200 };
    const err = await client(fb).callers('+17185550199').catch((e) => e);
    expect(err).toBeInstanceOf(BridgeError);
  });

  it('refuses to start without a bridge URL', () => {
    expect(() => new BridgeClient({ baseUrl: '', token: () => '' })).toThrow('baseUrl');
  });
});
