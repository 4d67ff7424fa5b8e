// Hand-written fakes of the Flex UI pieces the plugin uses. FakeActions
// follows Flex's invokeAction lifecycle: every before-listener runs in
// order and is awaited, each with (payload, abortFunction); an abort stops
// the action (no implementation, no after-listeners); then the action runs
// and every after-listener gets the same payload.
import type { ActionListener, ActionsLike, NotificationsLike, TaskLike } from '../../src/flex';

type Impl = (payload: any) => any | Promise<any>;

export class FakeActions implements ActionsLike {
  readonly listeners = new Map<string, ActionListener[]>();
  readonly impls = new Map<string, Impl>();
  readonly invoked: { name: string; payload: any; aborted: boolean }[] = [];

  addListener(name: string, listener: ActionListener): void {
    const l = this.listeners.get(name) ?? [];
    l.push(listener);
    this.listeners.set(name, l);
  }

  // register stands for Flex's own implementation of an action.
  register(name: string, impl: Impl): void {
    this.impls.set(name, impl);
  }

  async invokeAction(name: string, payload: any = {}): Promise<any> {
    let aborted = false;
    const abort = () => {
      aborted = true;
    };
    for (const l of this.listeners.get('before' + name) ?? []) {
      await l(payload, abort);
      if (aborted) break;
    }
    this.invoked.push({ name, payload, aborted });
    if (aborted) return undefined;
    const impl = this.impls.get(name);
    const result = impl ? await impl(payload) : undefined;
    for (const l of this.listeners.get('after' + name) ?? []) {
      await l(payload, () => undefined);
    }
    return result;
  }
}

export class FakeNotifications implements NotificationsLike {
  readonly registered = new Map<string, { content: string; type: string }>();
  readonly shown: { id: string; context?: Record<string, unknown> }[] = [];

  registerNotification(n: { id: string; content: string; type: string }): void {
    this.registered.set(n.id, n);
  }

  showNotification(id: string, context?: Record<string, unknown>): void {
    if (!this.registered.has(id)) throw new Error(`notification ${id} was never registered`);
    this.shown.push({ id, context });
  }
}

// FakeTask replaces its attributes whole on setAttributes, as TaskRouter does.
export class FakeTask implements TaskLike {
  taskSid: string;
  attributes: Record<string, any>;
  taskChannelUniqueName?: string;
  dateCreated?: Date;
  readonly writes: Record<string, any>[] = [];
  failWrites = false;

  constructor(sid: string, attributes: Record<string, any>, channel = 'voice', dateCreated?: Date) {
    this.taskSid = sid;
    this.attributes = attributes;
    this.taskChannelUniqueName = channel;
    this.dateCreated = dateCreated;
  }

  async setAttributes(attributes: Record<string, any>): Promise<unknown> {
    if (this.failWrites) throw new Error('TaskRouter said no');
    this.writes.push(attributes);
    this.attributes = JSON.parse(JSON.stringify(attributes));
    return this;
  }
}
