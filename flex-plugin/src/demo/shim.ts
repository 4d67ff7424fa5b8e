// The demo page's stand-in for the Flex UI runtime: Actions with Flex's
// before/after listener lifecycle, Notifications as toasts, and tasks whose
// attributes live in the Twilio simulator (through the demo's own API).
import type { ActionListener, ActionsLike, NotificationsLike, TaskLike } from '../flex';

type Impl = (payload: any) => any | Promise<any>;

export class DemoActions implements ActionsLike {
  private readonly listeners = new Map<string, ActionListener[]>();
  private readonly impls = new Map<string, Impl>();

  addListener(name: string, l: ActionListener): void {
    this.listeners.set(name, [...(this.listeners.get(name) ?? []), l]);
  }

  register(name: string, impl: Impl): void {
    this.impls.set(name, impl);
  }

  async invokeAction(name: string, payload: any = {}): Promise<any> {
    let aborted = false;
    for (const l of this.listeners.get('before' + name) ?? []) {
      await l(payload, () => {
        aborted = true;
      });
      if (aborted) return undefined;
    }
    const impl = this.impls.get(name);
    const out = impl ? await impl(payload) : undefined;
    for (const l of this.listeners.get('after' + name) ?? []) await l(payload, () => undefined);
    return out;
  }
}

export interface Toast {
  id: number;
  type: string;
  text: string;
}

export class DemoNotifications implements NotificationsLike {
  private readonly defs = new Map<string, { content: string; type: string; timeout?: number }>();
  toasts: Toast[] = [];
  onChange: () => void = () => undefined;
  private seq = 0;

  registerNotification(n: { id: string; content: string; type: string; timeout?: number }): void {
    this.defs.set(n.id, n);
  }

  showNotification(id: string, context: Record<string, unknown> = {}): void {
    const d = this.defs.get(id);
    if (!d) return;
    const text = d.content.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, k) => String(context[k] ?? ''));
    const t = { id: ++this.seq, type: d.type, text };
    this.toasts = [...this.toasts, t];
    this.onChange();
    setTimeout(() => {
      this.toasts = this.toasts.filter((x) => x !== t);
      this.onChange();
    }, d.timeout ?? 8000);
  }
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch('/demo/agent/api' + path, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const out = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(out.error || `demo API answered ${res.status}`);
  return out as T;
}

export interface TaskJSON {
  sid: string;
  attributes: Record<string, any>;
  assignment_status: string;
  date_created: string;
}

export class DemoTask implements TaskLike {
  taskSid: string;
  attributes: Record<string, any>;
  status: string;
  taskChannelUniqueName = 'voice';
  dateCreated: Date;
  onChange: () => void = () => undefined;

  constructor(t: TaskJSON) {
    this.taskSid = t.sid;
    this.attributes = t.attributes;
    this.status = t.assignment_status;
    this.dateCreated = new Date(t.date_created);
  }

  async setAttributes(attributes: Record<string, any>): Promise<unknown> {
    const t = await api<TaskJSON>('POST', `/tasks/${this.taskSid}/attributes`, { attributes });
    this.attributes = t.attributes;
    this.onChange();
    return this;
  }
}
