import React from 'react';
import type { Deps } from '../../deps';
import type { TaskLike } from '../../flex';
import { CallerPicker } from '../screen-pop/CallerPicker';
import { NamedContactReminder } from '../privacy/NamedContactReminder';
import { WrapupPanel } from '../wrap-up/WrapupPanel';

// What the task panel shows: the caller lookup, the record's context as the
// bridge gave it (nothing else: protected fields never reach the plugin),
// the named-contact reminder and the wrap-up choices.
export function BridgePanel({ deps, task }: { deps: Deps; task?: TaskLike }) {
  if (!task) return null;
  return (
    <div data-testid="bridge-panel" style={{ fontFamily: 'inherit' }}>
      <CallerPicker deps={deps} task={task} />
      <ContextCard task={task} />
      <NamedContactReminder task={task} />
      <WrapupPanel deps={deps} task={task} />
    </div>
  );
}

const hidden = new Set(['record_id', 'object']);

export function ContextCard({ task }: { task: TaskLike }) {
  const crm = task.attributes?.crm;
  if (!crm || !crm.record_id) return null;
  const rows = Object.entries(crm).filter(
    ([k, v]) => !hidden.has(k) && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'),
  );
  return (
    <dl data-testid="crm-context" style={styles.dl}>
      <dt style={styles.dt}>Record</dt>
      <dd style={styles.dd}>
        {String(crm.object ?? '')} {String(crm.record_id)}
      </dd>
      {rows.map(([k, v]) => (
        <React.Fragment key={k}>
          <dt style={styles.dt}>{k.replace(/_/g, ' ')}</dt>
          <dd style={styles.dd}>{String(v)}</dd>
        </React.Fragment>
      ))}
    </dl>
  );
}

const styles = {
  dl: { display: 'grid', gridTemplateColumns: 'max-content 1fr', gap: '2px 10px', margin: '8px 0', fontSize: 13 },
  dt: { color: '#556', textTransform: 'capitalize' as const },
  dd: { margin: 0 },
};
