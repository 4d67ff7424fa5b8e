import { useEffect, useState } from 'react';
import type { DeskStore, TaskDesk } from './store';

// useDesk re-renders on every store change (React 17 has no useSyncExternalStore).
export function useDesk(store: DeskStore, taskSid: string): TaskDesk {
  const [, tick] = useState(0);
  useEffect(() => store.subscribe(() => tick((n) => n + 1)), [store]);
  return store.get(taskSid);
}
