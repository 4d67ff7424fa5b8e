import React from 'react';
import { FlexPlugin } from '@twilio/flex-plugin';
import type * as Flex from '@twilio/flex-ui';

import { BridgeClient } from './bridge/client';
import { bridgeUrl } from './config';
import type { Deps } from './deps';
import { DeskStore } from './desk/store';
import { registerFeatures } from './features';
import { BridgePanel } from './features/panel/BridgePanel';
import type { ActionsLike, NotificationsLike, TaskLike } from './flex';
import { openCTI } from './opencti/adapter';

const PLUGIN_NAME = 'BridgeDesktopPlugin';

export default class BridgeDesktopPlugin extends FlexPlugin {
  constructor() {
    super(PLUGIN_NAME);
  }

  async init(flex: typeof Flex, manager: Flex.Manager): Promise<void> {
    const baseUrl = bridgeUrl(manager.serviceConfiguration, process.env.FLEX_APP_BRIDGE_URL);
    if (!baseUrl) {
      console.error(`${PLUGIN_NAME}: set ui_attributes.bridge_desktop.bridge_url (https) in the Flex configuration`);
      return;
    }
    const deps: Deps = {
      actions: flex.Actions as unknown as ActionsLike,
      notifications: flex.Notifications as unknown as NotificationsLike,
      bridge: new BridgeClient({ baseUrl, token: () => manager.user.token }),
      cti: openCTI(window as any),
      store: new DeskStore(),
      now: Date.now,
      log: (msg) => console.warn(`${PLUGIN_NAME}: ${msg}`),
    };
    await registerFeatures(deps);
    const Panel = flex.withTaskContext(({ task }: { task?: unknown }) => (
      <BridgePanel deps={deps} task={task as TaskLike | undefined} />
    ));
    flex.TaskCanvas.Content.add(<Panel key="bridge-desktop-panel" />, { sortOrder: -1 });
  }
}
