import { registerFeatures } from '..';
import { N } from '../../notifications';
import { flush, world } from '../../../test/fakes/deps';

const ID = '003RM00000Qx1a2YAB';
const CONTEXT = {
  name: 'Quinn',
  to: '+16465550175',
  language: 'es',
  direction: 'outbound',
  from: '+12125550100',
  crm: { record_id: ID, object: 'Contact', name: 'Quinn', language: 'es' },
};

describe('click-to-dial', () => {
  it('a click in Salesforce starts StartOutboundCall carrying the bridge context', async () => {
    const w = world();
    w.bridge.routes[`/v1/records/${ID}/context`] = { status: 200, body: CONTEXT };
    const placed: any[] = [];
    w.actions.register('StartOutboundCall', (p) => placed.push(p));
    await registerFeatures(w.deps);

    w.cti!.click({ number: '(646) 555-0175', recordId: ID, objectType: 'Contact' });
    await flush();
    await flush();

    expect(placed).toHaveLength(1);
    expect(placed[0].destination).toBe('(646) 555-0175');
    expect(placed[0].taskAttributes.crm).toEqual(CONTEXT.crm);
    expect(placed[0].taskAttributes.language).toBe('es');
    expect(w.bridge.requests[0].headers['X-Flex-Token']).toBe('flex-token-1');
    expect(w.notifications.shown).toEqual([]);
  });

  it.each([
    [422, 'the record has no callable number in MobilePhone (click_to_call.attributes.to)', 'MobilePhone'],
    [404, 'record not found', 'record not found'],
    [409, 'the contact has opted out of calls', 'opted out'],
    [503, 'Salesforce or Twilio is unavailable; nothing was created, try again', 'unavailable'],
  ])('a %i from the bridge aborts the call and says why', async (status, error, shown) => {
    const w = world();
    w.bridge.routes[`/v1/records/${ID}/context`] = { status, body: { error } };
    const placed: any[] = [];
    w.actions.register('StartOutboundCall', (p) => placed.push(p));
    const after = jest.fn();
    w.actions.addListener('afterStartOutboundCall', after);
    await registerFeatures(w.deps);

    await w.actions.invokeAction('StartOutboundCall', { destination: '+16465550175', taskAttributes: { crm: { record_id: ID } } });

    expect(placed).toEqual([]);
    expect(after).not.toHaveBeenCalled();
    expect(w.actions.invoked[0].aborted).toBe(true);
    expect(w.notifications.shown).toHaveLength(1);
    expect(w.notifications.shown[0].id).toBe(N.callRefused);
    expect(String(w.notifications.shown[0].context?.reason)).toContain(shown);
  });

  it('leaves a dial-pad call (no record) alone and asks the bridge nothing', async () => {
    const w = world();
    const placed: any[] = [];
    w.actions.register('StartOutboundCall', (p) => placed.push(p));
    await registerFeatures(w.deps);
    await w.actions.invokeAction('StartOutboundCall', { destination: '+16465550175', taskAttributes: { team: 'east' } });
    expect(placed).toEqual([{ destination: '+16465550175', taskAttributes: { team: 'east' } }]);
    expect(w.bridge.requests).toEqual([]);
  });

  it('keeps what another plugin put in taskAttributes', async () => {
    const w = world();
    w.bridge.routes[`/v1/records/${ID}/context`] = { status: 200, body: CONTEXT };
    const placed: any[] = [];
    w.actions.register('StartOutboundCall', (p) => placed.push(p));
    w.actions.addListener('beforeStartOutboundCall', (p) => {
      p.taskAttributes.team = 'east';
    });
    await registerFeatures(w.deps);
    await w.actions.invokeAction('StartOutboundCall', { destination: '+1', taskAttributes: { crm: { record_id: ID } } });
    expect(placed[0].taskAttributes.team).toBe('east');
    expect(placed[0].taskAttributes.crm.name).toBe('Quinn');
  });

  it('works without Open CTI (Flex outside Salesforce): the listener still adds context', async () => {
    const w = world(false);
    w.bridge.routes[`/v1/records/${ID}/context`] = { status: 200, body: CONTEXT };
    const placed: any[] = [];
    w.actions.register('StartOutboundCall', (p) => placed.push(p));
    await registerFeatures(w.deps);
    await w.actions.invokeAction('StartOutboundCall', { destination: '+1', taskAttributes: { crm: { record_id: ID } } });
    expect(placed[0].taskAttributes.to).toBe('+16465550175');
  });
});
