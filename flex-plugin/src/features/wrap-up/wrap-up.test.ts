import { registerFeatures } from '..';
import { localDate, validFollowUp, wrapupAttributes } from '.';
import { N } from '../../notifications';
import { world } from '../../../test/fakes/deps';
import { FakeTask } from '../../../test/fakes/flex';

const crm = { record_id: '003RM00000Qx1a2YAB', object: 'Contact' };

describe('wrap-up', () => {
  it('writes outcome, follow-up and talk time onto the task before it completes, merged with Flex attributes', async () => {
    const w = world();
    const completed: any[] = [];
    w.actions.register('CompleteTask', (p) => completed.push(JSON.parse(JSON.stringify(p.task.attributes))));
    await registerFeatures(w.deps);
    const task = new FakeTask('WT1', { crm, conversations: { conversation_id: 'WT1', abandoned: 'No' }, call_sid: 'CA1' });

    await w.actions.invokeAction('AcceptTask', { task });
    w.clock.now += 95_400;
    await w.actions.invokeAction('WrapupTask', { task });
    w.clock.now += 60_000; // wrap-up time is not talk time
    w.deps.store.update('WT1', { outcome: 'Reached', followUp: localDate(w.clock.now + 2 * 86400_000) });
    await w.actions.invokeAction('CompleteTask', { task });

    expect(completed).toHaveLength(1);
    expect(completed[0]).toEqual({
      crm,
      call_sid: 'CA1',
      conversations: { conversation_id: 'WT1', abandoned: 'No', outcome: 'Reached', talk_time: 95 },
      follow_up_date: localDate(w.clock.now + 2 * 86400_000),
    });
    expect(w.deps.store.get('WT1')).toEqual({}); // forgotten once completed
  });

  it('refuses to complete a bridge task without an outcome', async () => {
    const w = world();
    const completed = jest.fn();
    w.actions.register('CompleteTask', completed);
    await registerFeatures(w.deps);
    const task = new FakeTask('WT1', { crm });
    await w.actions.invokeAction('CompleteTask', { task });
    expect(completed).not.toHaveBeenCalled();
    expect(task.writes).toEqual([]);
    expect(w.notifications.shown.map((s) => s.id)).toEqual([N.outcomeMissing]);
  });

  it('refuses a follow-up date in the past', async () => {
    const w = world();
    const completed = jest.fn();
    w.actions.register('CompleteTask', completed);
    await registerFeatures(w.deps);
    const task = new FakeTask('WT1', { crm });
    w.deps.store.update('WT1', { outcome: 'Reached', followUp: localDate(w.clock.now - 86400_000) });
    await w.actions.invokeAction('CompleteTask', { task });
    expect(completed).not.toHaveBeenCalled();
    expect(w.notifications.shown.map((s) => s.id)).toEqual([N.followUpInvalid]);
  });

  it('aborts, and says so, when the attributes cannot be written', async () => {
    const w = world();
    const completed = jest.fn();
    w.actions.register('CompleteTask', completed);
    await registerFeatures(w.deps);
    const task = new FakeTask('WT1', { crm });
    task.failWrites = true;
    w.deps.store.update('WT1', { outcome: 'No answer' });
    await w.actions.invokeAction('CompleteTask', { task });
    expect(completed).not.toHaveBeenCalled();
    expect(w.notifications.shown.map((s) => s.id)).toEqual([N.wrapupFailed]);
    expect(w.deps.store.get('WT1').outcome).toBe('No answer'); // kept for the retry
  });

  it('leaves tasks that name no record alone', async () => {
    const w = world();
    const completed = jest.fn();
    w.actions.register('CompleteTask', completed);
    await registerFeatures(w.deps);
    const task = new FakeTask('WT9', { team: 'east' });
    await w.actions.invokeAction('CompleteTask', { task });
    expect(completed).toHaveBeenCalled();
    expect(task.writes).toEqual([]);
  });

  it('falls back to the task creation time for talk time', async () => {
    const w = world();
    const completed: any[] = [];
    w.actions.register('CompleteTask', (p) => completed.push(p.task.attributes));
    await registerFeatures(w.deps);
    const task = new FakeTask('WT1', { crm }, 'voice', new Date(w.clock.now - 30_000));
    w.deps.store.update('WT1', { outcome: 'Reached' });
    await w.actions.invokeAction('CompleteTask', { task });
    expect(completed[0].conversations.talk_time).toBe(30);
    expect(completed[0].follow_up_date).toBeUndefined();
  });

  it('validates dates', () => {
    expect(validFollowUp('2026-11-30', '2026-11-30')).toBe(true);
    expect(validFollowUp('2026-12-01', '2026-11-30')).toBe(true);
    expect(validFollowUp('2026-11-29', '2026-11-30')).toBe(false);
    expect(validFollowUp('2026-02-30', '2026-01-01')).toBe(false);
    expect(validFollowUp('next week', '2026-01-01')).toBe(false);
    expect(wrapupAttributes({ a: 1 }, {})).toEqual({ a: 1, conversations: {} });
  });
});
