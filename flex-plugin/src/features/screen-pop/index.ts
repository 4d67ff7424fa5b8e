// Screen pop: a task that names its record pops it on accept. Inbound: when
// the tracer accepts an inbound call or SMS task,
// the bridge says which records the caller's number belongs to. One match
// is popped in Salesforce and written onto the task (crm); several wait for
// the tracer's pick in the task panel; none shows "unknown caller".
import type { Deps } from '../../deps';
import type { TaskLike } from '../../flex';
import type { CallerMatch } from '../../bridge/client';
import { BridgeError } from '../../bridge/client';
import { N } from '../../notifications';

const messaging = new Set(['sms', 'chat', 'messaging']);

// The caller's number for an inbound voice or SMS task, else undefined (an
// outreach task, or one that already names its record).
export function inboundNumber(task: TaskLike): string | undefined {
  const a = task.attributes ?? {};
  if (a.crm && a.crm.record_id) return undefined;
  const channel = String(task.taskChannelUniqueName ?? a.channelType ?? '').toLowerCase();
  const isVoice = channel === 'voice' || channel === '';
  if (isVoice && a.direction !== 'inbound') return undefined;
  if (!isVoice && !messaging.has(channel)) return undefined;
  const raw = [a.from, a.customerAddress, a.caller].find((v) => typeof v === 'string' && v.trim() !== '');
  if (!raw) return undefined;
  // Conversations addresses carry a channel prefix (whatsapp:+1…, sms:+1…).
  return String(raw).replace(/^[a-z]+:/i, '');
}

export function registerScreenPop(deps: Deps): void {
  deps.actions.addListener('afterAcceptTask', (payload) => {
    const task: TaskLike | undefined = payload?.task;
    if (task) return lookUp(deps, task);
  });
}

export async function lookUp(deps: Deps, task: TaskLike): Promise<void> {
  const linked = task.attributes?.crm?.record_id;
  if (typeof linked === 'string' && linked) {
    // An outreach or click-to-dial task already names its record: show it.
    if (deps.cti.available()) await deps.cti.screenPop(linked).catch(() => deps.log?.('screen pop failed'));
    return;
  }
  const phone = inboundNumber(task);
  if (!phone) return;
  deps.store.update(task.taskSid, { caller: { kind: 'looking' } });
  let matches: CallerMatch[];
  try {
    matches = await deps.bridge.callers(phone);
  } catch (e) {
    const message = e instanceof BridgeError && e.refused ? e.message : 'the bridge is unavailable';
    deps.store.update(task.taskSid, { caller: { kind: 'error', message } });
    deps.notifications.showNotification(N.lookupFailed, { reason: message });
    return;
  }
  if (matches.length === 0) {
    deps.store.update(task.taskSid, { caller: { kind: 'none' } });
  } else if (matches.length === 1) {
    await pick(deps, task, matches[0]);
  } else {
    deps.store.update(task.taskSid, { caller: { kind: 'several', matches } });
  }
}

// pick links the task to one record: Salesforce shows it, and the task's
// crm names it so the writeback lands on it. Flex's own attributes stay.
export async function pick(deps: Deps, task: TaskLike, match: CallerMatch): Promise<void> {
  const current = task.attributes ?? {};
  try {
    await task.setAttributes({
      ...current,
      crm: { ...(current.crm ?? {}), record_id: match.record_id, object: match.object },
    });
  } catch {
    // Leave (or offer) the choice, so the tracer can link it again.
    if (deps.store.get(task.taskSid).caller?.kind !== 'several') {
      deps.store.update(task.taskSid, { caller: { kind: 'several', matches: [match] } });
    }
    deps.notifications.showNotification(N.lookupFailed, { reason: 'the record could not be linked to the task; pick it again' });
    return;
  }
  deps.store.update(task.taskSid, { caller: { kind: 'picked', match } });
  if (deps.cti.available()) {
    await deps.cti.screenPop(match.record_id).catch(() => deps.log?.('screen pop failed'));
  }
}
