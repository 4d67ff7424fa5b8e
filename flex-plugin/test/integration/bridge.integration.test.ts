// The plugin's bridge client against a running bridge over HTTP, with a
// Flex token the bridge checks through the Twilio simulator's IAM route.
// test/e2e/flexplugin_test.go starts the bridge, seeds the records and sets:
//   BRIDGE_URL, FLEX_TOKEN, RECORD_ID (callable), RECORD_NO_NUMBER,
//   UNKNOWN_RECORD, SHARED_NUMBER (two records), SHARED_IDS (comma-separated)
import { BridgeClient, BridgeError } from '../../src/bridge/client';

const env = (k: string) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set: run this through go test ./test/e2e -run TestFlexPlugin`);
  return v;
};

const client = (token = env('FLEX_TOKEN')) =>
  new BridgeClient({ baseUrl: env('BRIDGE_URL'), token: () => token, fetch: globalThis.fetch, maxAttempts: 2, baseDelayMs: 10 });

describe('bridge client against the bridge', () => {
  it('reads a record context to pass as taskAttributes', async () => {
    const ctx = await client().recordContext(env('RECORD_ID'));
    expect(ctx.crm?.record_id).toBe(env('RECORD_ID'));
    expect(ctx.crm?.object).toBe('Contact');
    expect(ctx.direction).toBe('outbound');
    expect(ctx.to).toMatch(/^\+1\d{10}$/);
    expect(JSON.stringify(ctx)).not.toContain('Index_Case');
  });

  it('a record without a callable number is refused with 422 naming the field', async () => {
    const err = await client().recordContext(env('RECORD_NO_NUMBER')).catch((e) => e);
    expect(err).toBeInstanceOf(BridgeError);
    expect(err.status).toBe(422);
    expect(err.refused).toBe(true);
    expect(err.message).toContain('MobilePhone');
  });

  it('an unknown record is refused with 404', async () => {
    const err = await client().recordContext(env('UNKNOWN_RECORD')).catch((e) => e);
    expect(err.status).toBe(404);
  });

  it('finds both records that hold a shared number, in any spelling', async () => {
    const want = env('SHARED_IDS').split(',').sort();
    for (const spelling of [env('SHARED_NUMBER'), env('SHARED_NUMBER').slice(2)]) {
      const recs = await client().callers(spelling);
      expect(recs.map((r) => r.record_id).sort()).toEqual(want);
      expect(recs.every((r) => r.object === 'Contact' && typeof r.label === 'string')).toBe(true);
    }
    await expect(client().callers('+13475550000')).resolves.toEqual([]);
  });

  it('reads the dispositions for the wrap-up panel', async () => {
    await expect(client().wrapup()).resolves.toEqual(['Reached', 'No answer', 'Left voicemail', 'Wrong number', 'Refused']);
  });

  it('a Flex token IAM does not vouch for is refused with 401, and not retried', async () => {
    const err = await client('eyJhbGciOiJkaXIifQ..bad.token.here').wrapup().catch((e) => e);
    expect(err.status).toBe(401);
  });
});
