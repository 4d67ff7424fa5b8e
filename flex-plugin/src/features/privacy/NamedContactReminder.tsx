import React from 'react';
import type { TaskLike } from '../../flex';

// The fixed reminder on outreach calls: a contact was named by a case, and
// must never learn by whom.
export const NAMED_CONTACT_REMINDER =
  'This person was named as a contact. Do not say who named them, or anything that could identify that person.';

export function isOutreach(task: TaskLike): boolean {
  const a = task.attributes ?? {};
  return Boolean(a.crm?.record_id) && a.direction !== 'inbound';
}

export function NamedContactReminder({ task }: { task: TaskLike }) {
  if (!isOutreach(task)) return null;
  return (
    <div role="note" data-testid="named-contact-reminder" style={styles.note}>
      <strong>Privacy:</strong> {NAMED_CONTACT_REMINDER}
    </div>
  );
}

const styles = {
  note: { background: '#fff4ce', border: '1px solid #e0b400', borderRadius: 4, padding: '8px 10px', margin: '8px 0', fontSize: 13 },
};
