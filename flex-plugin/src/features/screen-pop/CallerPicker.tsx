import React, { useEffect, useRef, useState } from 'react';
import type { Deps } from '../../deps';
import type { TaskLike } from '../../flex';
import { useDesk } from '../../desk/useDesk';
import { pick } from './index';

// The caller lookup's state in the task panel: a picker when several records
// hold the number, "unknown caller" when none does. Only what the bridge
// answered (label, object) is shown.
export function CallerPicker({ deps, task }: { deps: Deps; task: TaskLike }) {
  const desk = useDesk(deps.store, task.taskSid);
  const [busy, setBusy] = useState(false);
  const live = useRef(true);
  useEffect(
    () => () => {
      live.current = false;
    },
    [],
  );
  const c = desk.caller;
  if (!c) return null;
  switch (c.kind) {
    case 'looking':
      return <div data-testid="caller-looking" style={styles.box}>Looking up the caller…</div>;
    case 'none':
      return (
        <div data-testid="caller-unknown" style={styles.box}>
          <strong>Unknown caller</strong>: no record holds this number.
        </div>
      );
    case 'error':
      return (
        <div data-testid="caller-error" style={styles.box}>
          Caller lookup failed: {c.message}
        </div>
      );
    case 'picked':
      return (
        <div data-testid="caller-picked" style={styles.box}>
          Caller: <strong>{c.match.label || c.match.record_id}</strong> ({c.match.object})
        </div>
      );
    case 'several':
      return (
        <fieldset data-testid="caller-picker" style={styles.box} disabled={busy}>
          <legend style={styles.legend}>Several records hold this number: who is calling?</legend>
          {c.matches.map((m) => (
            <button
              key={m.record_id}
              type="button"
              style={styles.choice}
              data-record-id={m.record_id}
              onClick={() => {
                setBusy(true);
                pick(deps, task, m).finally(() => live.current && setBusy(false));
              }}
            >
              {m.label || m.record_id} <span style={styles.object}>{m.object}</span>
            </button>
          ))}
        </fieldset>
      );
  }
  return null;
}

const styles = {
  box: { border: '1px solid #ccd', borderRadius: 4, padding: '8px 10px', margin: '8px 0', fontSize: 14 },
  legend: { fontWeight: 600, fontSize: 13 },
  choice: { display: 'block', width: '100%', textAlign: 'left' as const, margin: '4px 0', padding: '6px 8px', cursor: 'pointer' },
  object: { color: '#667', fontSize: 12, marginLeft: 6 },
};
