import { BridgeClient } from '../../src/bridge/client';
import type { Deps } from '../../src/deps';
import { DeskStore } from '../../src/desk/store';
import { openCTI } from '../../src/opencti/adapter';
import { FakeBridge } from './bridge';
import { FakeActions, FakeNotifications } from './flex';
import { FakeOpenCTI, windowWith } from './opencti';

export interface World {
  deps: Deps;
  actions: FakeActions;
  notifications: FakeNotifications;
  bridge: FakeBridge;
  cti?: FakeOpenCTI;
  clock: { now: number };
  token: { value: string };
}

// world builds the plugin's dependencies from fakes; without Open CTI when
// withCTI is false (Flex outside Salesforce).
export function world(withCTI = true): World {
  const actions = new FakeActions();
  const notifications = new FakeNotifications();
  const bridge = new FakeBridge();
  const cti = withCTI ? new FakeOpenCTI() : undefined;
  const clock = { now: Date.UTC(2026, 10, 30, 15, 0, 0) };
  const token = { value: 'flex-token-1' };
  const deps: Deps = {
    actions,
    notifications,
    bridge: new BridgeClient({
      baseUrl: 'https://bridge.example.org/',
      token: () => token.value,
      fetch: bridge.fetch as unknown as typeof fetch,
      sleep: async () => undefined,
      random: () => 0.5,
    }),
    cti: openCTI(windowWith(cti)),
    store: new DeskStore(),
    now: () => clock.now,
  };
  return { deps, actions, notifications, bridge, cti, clock, token };
}

export const flush = () => new Promise((r) => setTimeout(r, 0));
