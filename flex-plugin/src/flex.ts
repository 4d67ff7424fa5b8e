// The part of Flex UI 2.x this plugin uses, written as structural types so
// the feature modules run unchanged in Flex, in the Jest fakes and on the
// demo page. Flex's own objects (the `flex` namespace and the Manager handed
// to FlexPlugin.init) satisfy them.

export type AbortFunction = () => void;
export type ActionListener = (payload: any, abortFunction: AbortFunction) => void | Promise<void>;

export interface ActionsLike {
  addListener(name: string, listener: ActionListener): void;
  invokeAction(name: string, payload?: any): Promise<any>;
}

export interface NotificationsLike {
  registerNotification(n: { id: string; content: string; type: string; timeout?: number }): void;
  showNotification(id: string, context?: Record<string, unknown>): unknown;
}

// A Flex task (ITask): attributes are replaced whole by setAttributes.
export interface TaskLike {
  taskSid: string;
  attributes: Record<string, any>;
  taskChannelUniqueName?: string;
  status?: string;
  dateCreated?: Date;
  setAttributes(attributes: Record<string, any>): Promise<unknown>;
}

export interface ManagerLike {
  user: { token: string };
}
