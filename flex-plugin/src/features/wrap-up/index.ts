// Wrap-up: the tracer's disposition, an optional follow-up date and the
// call's talk time go onto the task's attributes before it completes, where
// the bridge's writeback reads them (conversations.outcome, follow_up_date,
// conversations.talk_time). A listener, so other plugins' listeners and
// Flex's own attributes are kept.
import type { Deps } from '../../deps';
import type { TaskLike } from '../../flex';
import { N } from '../../notifications';

export interface WrapupChoice {
  outcome?: string;
  followUp?: string;
  talkTime?: number;
}

// localDate is YYYY-MM-DD in the tracer's own time zone.
export function localDate(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

// validFollowUp: a real calendar date, today or later.
export function validFollowUp(date: string, today: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) return false;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
  if (d.getUTCFullYear() !== +m[1] || d.getUTCMonth() !== +m[2] - 1 || d.getUTCDate() !== +m[3]) return false;
  return date >= today;
}

// wrapupAttributes merges the choice into the task's current attributes.
export function wrapupAttributes(current: Record<string, any>, c: WrapupChoice): Record<string, any> {
  const conversations = { ...(current.conversations ?? {}) };
  if (c.outcome) conversations.outcome = c.outcome;
  if (c.talkTime !== undefined) conversations.talk_time = c.talkTime;
  const out: Record<string, any> = { ...current, conversations };
  if (c.followUp) out.follow_up_date = c.followUp;
  return out;
}

// talkTime: seconds from acceptance (or the task's creation) to wrap-up (or now).
export function talkTime(deps: Deps, task: TaskLike): number | undefined {
  const s = deps.store.get(task.taskSid);
  const start = s.acceptedAt ?? task.dateCreated?.getTime();
  if (start === undefined) return undefined;
  const end = s.wrapAt ?? deps.now();
  return Math.max(0, Math.round((end - start) / 1000));
}

// A task the bridge writes back: it names a Salesforce record.
export function isBridgeTask(task: TaskLike): boolean {
  return Boolean(task.attributes?.crm?.record_id);
}

export function registerWrapup(deps: Deps): void {
  deps.actions.addListener('afterAcceptTask', (payload) => {
    const t: TaskLike | undefined = payload?.task;
    if (t && deps.store.get(t.taskSid).acceptedAt === undefined) deps.store.update(t.taskSid, { acceptedAt: deps.now() });
  });
  deps.actions.addListener('afterWrapupTask', (payload) => {
    const t: TaskLike | undefined = payload?.task;
    if (t && deps.store.get(t.taskSid).wrapAt === undefined) deps.store.update(t.taskSid, { wrapAt: deps.now() });
  });
  deps.actions.addListener('beforeCompleteTask', (payload, abort) => beforeComplete(deps, payload, abort));
  deps.actions.addListener('afterCompleteTask', (payload) => {
    const t: TaskLike | undefined = payload?.task;
    if (t) deps.store.forget(t.taskSid);
  });
}

export async function beforeComplete(deps: Deps, payload: any, abort: () => void): Promise<void> {
  const task: TaskLike | undefined = payload?.task;
  if (!task || !isBridgeTask(task)) return;
  const s = deps.store.get(task.taskSid);
  if (!s.outcome) {
    abort();
    deps.notifications.showNotification(N.outcomeMissing);
    return;
  }
  if (s.followUp && !validFollowUp(s.followUp, localDate(deps.now()))) {
    abort();
    deps.notifications.showNotification(N.followUpInvalid);
    return;
  }
  const next = wrapupAttributes(task.attributes ?? {}, {
    outcome: s.outcome,
    followUp: s.followUp,
    talkTime: talkTime(deps, task),
  });
  try {
    await task.setAttributes(next);
  } catch {
    abort();
    deps.notifications.showNotification(N.wrapupFailed);
  }
}
