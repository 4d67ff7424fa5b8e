// Per-task state the panel shows and the listeners share: the caller lookup,
// when the call was accepted and wrapped, and the tracer's wrap-up choices.
// Kept in the plugin's memory only: nothing here is sent anywhere but onto
// the task's own attributes at completion.
import type { CallerMatch } from '../bridge/client';

export type CallerState =
  | { kind: 'looking' }
  | { kind: 'several'; matches: CallerMatch[] }
  | { kind: 'picked'; match: CallerMatch }
  | { kind: 'none' }
  | { kind: 'error'; message: string };

export interface TaskDesk {
  caller?: CallerState;
  acceptedAt?: number;
  wrapAt?: number;
  outcome?: string;
  followUp?: string; // YYYY-MM-DD
}

type Listener = () => void;

export class DeskStore {
  private readonly tasks = new Map<string, TaskDesk>();
  private readonly listeners = new Set<Listener>();

  get(taskSid: string): TaskDesk {
    return this.tasks.get(taskSid) ?? {};
  }

  update(taskSid: string, patch: Partial<TaskDesk>): void {
    this.tasks.set(taskSid, { ...this.get(taskSid), ...patch });
    this.listeners.forEach((l) => l());
  }

  forget(taskSid: string): void {
    this.tasks.delete(taskSid);
    this.listeners.forEach((l) => l());
  }

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => {
      this.listeners.delete(l);
    };
  }
}
