import type { ActionsLike, NotificationsLike } from './flex';
import type { BridgeClient } from './bridge/client';
import type { CTI } from './opencti/adapter';
import type { DeskStore } from './desk/store';

// What every feature is given: Flex's Actions and Notifications, the bridge
// client, the Open CTI adapter, the shared task state and a clock.
export interface Deps {
  actions: ActionsLike;
  notifications: NotificationsLike;
  bridge: BridgeClient;
  cti: CTI;
  store: DeskStore;
  now: () => number;
  log?: (msg: string) => void; // never given record data
}
