import { registerFeatures } from '..';
import { inboundNumber } from '.';
import { N } from '../../notifications';
import { world } from '../../../test/fakes/deps';
import { FakeTask } from '../../../test/fakes/flex';

const A = { record_id: '003RM00000Qx1a2YAB', object: 'Contact', label: 'Avery' };
const B = { record_id: '003RM00000Qx1a3YAB', object: 'Contact', label: 'Blake' };

async function accept(w: ReturnType<typeof world>, task: FakeTask) {
  await registerFeatures(w.deps);
  await w.actions.invokeAction('AcceptTask', { sid: 'WR1', task });
}

describe('inbound screen pop', () => {
  it('one match: pops it in Salesforce and writes crm onto the task, keeping Flex attributes', async () => {
    const w = world();
    w.bridge.routes['/v1/callers/%2B17185550199'] = { status: 200, body: { records: [A] } };
    const task = new FakeTask('WT1', { direction: 'inbound', from: '+17185550199', conversations: { conversation_id: 'WT1' } });
    await accept(w, task);
    expect(w.cti!.pops).toEqual([{ type: 'sobject', params: { recordId: A.record_id } }]);
    expect(task.attributes).toEqual({
      direction: 'inbound',
      from: '+17185550199',
      conversations: { conversation_id: 'WT1' },
      crm: { record_id: A.record_id, object: 'Contact' },
    });
    expect(w.deps.store.get('WT1').caller).toEqual({ kind: 'picked', match: A });
  });

  it('several matches: waits for the tracer to pick, then links the picked record', async () => {
    const w = world();
    w.bridge.routes['/v1/callers/%2B17185550199'] = { status: 200, body: { records: [A, B] } };
    const task = new FakeTask('WT1', { direction: 'inbound', from: '+17185550199' });
    await accept(w, task);
    expect(w.deps.store.get('WT1').caller).toEqual({ kind: 'several', matches: [A, B] });
    expect(task.writes).toEqual([]);
    expect(w.cti!.pops).toEqual([]);
  });

  it('no match: unknown caller, nothing written', async () => {
    const w = world();
    w.bridge.routes['/v1/callers/%2B17185550199'] = { status: 200, body: { records: [] } };
    const task = new FakeTask('WT1', { direction: 'inbound', from: '+17185550199' });
    await accept(w, task);
    expect(w.deps.store.get('WT1').caller).toEqual({ kind: 'none' });
    expect(task.writes).toEqual([]);
  });

  it('an SMS task is looked up by its sender', async () => {
    const w = world();
    w.bridge.routes['/v1/callers/%2B17185550199'] = { status: 200, body: { records: [A] } };
    const task = new FakeTask('WT2', { from: 'sms:+17185550199', channelType: 'sms' }, 'sms');
    await accept(w, task);
    expect(task.attributes.crm.record_id).toBe(A.record_id);
  });

  it('a lookup failure tells the tracer and leaves the task alone', async () => {
    const w = world();
    w.bridge.routes['/v1/callers/%2B17185550199'] = { status: 503, body: { error: 'Salesforce is unavailable; try again' } };
    const task = new FakeTask('WT1', { direction: 'inbound', from: '+17185550199' });
    await accept(w, task);
    expect(w.deps.store.get('WT1').caller?.kind).toBe('error');
    expect(w.notifications.shown.map((s) => s.id)).toEqual([N.lookupFailed]);
    expect(task.writes).toEqual([]);
  });

  it('outreach and outbound tasks are not looked up', () => {
    expect(inboundNumber(new FakeTask('a', { direction: 'outbound', to: '+1' }))).toBeUndefined();
    expect(inboundNumber(new FakeTask('b', { direction: 'inbound', from: '+1', crm: { record_id: 'x' } }))).toBeUndefined();
    expect(inboundNumber(new FakeTask('c', { from: '+1' }, 'email'))).toBeUndefined();
    expect(inboundNumber(new FakeTask('d', { direction: 'inbound', from: 'whatsapp:+17185550199' }))).toBe('+17185550199');
  });
});

describe('picking', () => {
  it('a failed write keeps the picker and tells the tracer', async () => {
    const w = world();
    w.bridge.routes['/v1/callers/%2B17185550199'] = { status: 200, body: { records: [A] } };
    const task = new FakeTask('WT1', { direction: 'inbound', from: '+17185550199' });
    task.failWrites = true;
    await accept(w, task);
    expect(w.deps.store.get('WT1').caller).toEqual({ kind: 'several', matches: [A] });
    expect(w.notifications.shown.map((s) => s.id)).toEqual([N.lookupFailed]);
    expect(w.cti!.pops).toEqual([]);
  });
});

describe('tasks that name their record', () => {
  it('an outreach task pops its record on accept and asks the bridge nothing', async () => {
    const w = world();
    const task = new FakeTask('WT3', { crm: { record_id: A.record_id, object: 'Contact' }, name: 'Avery' });
    await accept(w, task);
    expect(w.cti!.pops).toEqual([{ type: 'sobject', params: { recordId: A.record_id } }]);
    expect(w.bridge.requests).toEqual([]);
    expect(task.writes).toEqual([]);
  });
});
