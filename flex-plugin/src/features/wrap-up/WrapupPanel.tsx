import React, { useEffect, useState } from 'react';
import type { Deps } from '../../deps';
import type { TaskLike } from '../../flex';
import { useDesk } from '../../desk/useDesk';
import { isBridgeTask, localDate, validFollowUp } from './index';

// The wrap-up panel: a disposition from the mapping (GET /v1/wrapup) and an
// optional follow-up date, today or later. The choice is kept for the task
// and written onto its attributes when it completes.
export function WrapupPanel({ deps, task }: { deps: Deps; task: TaskLike }) {
  const desk = useDesk(deps.store, task.taskSid);
  const [dispositions, setDispositions] = useState<string[] | null>(null);
  const [failed, setFailed] = useState(false);
  const today = localDate(deps.now());

  useEffect(() => {
    let live = true;
    deps.bridge
      .wrapup()
      .then((d) => live && setDispositions(d))
      .catch(() => live && setFailed(true));
    return () => {
      live = false;
    };
  }, [deps.bridge]);

  if (!isBridgeTask(task)) return null;
  const badDate = Boolean(desk.followUp) && !validFollowUp(desk.followUp as string, today);
  return (
    <section data-testid="wrapup-panel" style={styles.box} aria-label="Wrap-up">
      <h3 style={styles.h}>Wrap-up</h3>
      {failed && <div role="alert">The outcomes could not be loaded from the bridge.</div>}
      <label style={styles.label}>
        Outcome
        <select
          data-testid="wrapup-outcome"
          value={desk.outcome ?? ''}
          onChange={(e) => deps.store.update(task.taskSid, { outcome: e.target.value || undefined })}
          style={styles.input}
        >
          <option value="">Choose…</option>
          {(dispositions ?? []).map((d) => (
            <option key={d} value={d}>
              {d}
            </option>
          ))}
        </select>
      </label>
      <label style={styles.label}>
        Follow-up call (optional)
        <input
          data-testid="wrapup-follow-up"
          type="date"
          min={today}
          value={desk.followUp ?? ''}
          onChange={(e) => deps.store.update(task.taskSid, { followUp: e.target.value || undefined })}
          style={styles.input}
          aria-invalid={badDate}
        />
      </label>
      {badDate && (
        <div role="alert" data-testid="wrapup-date-error" style={styles.error}>
          The follow-up date must be today or later.
        </div>
      )}
    </section>
  );
}

const styles = {
  box: { border: '1px solid #ccd', borderRadius: 4, padding: '8px 10px', margin: '8px 0' },
  h: { margin: '0 0 6px', fontSize: 15 },
  label: { display: 'block', fontSize: 13, margin: '6px 0' },
  input: { display: 'block', marginTop: 2, padding: 4, minWidth: 200 },
  error: { color: '#b00020', fontSize: 13 },
};
