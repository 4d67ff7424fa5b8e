import type { Deps } from '../deps';
import { registerNotifications } from '../notifications';
import { registerClickToDial } from './click-to-dial';
import { registerScreenPop } from './screen-pop';
import { registerWrapup } from './wrap-up';

// registerFeatures wires every feature's listeners; the panel is mounted by
// the host (Flex's TaskCanvas, or the demo page).
export async function registerFeatures(deps: Deps): Promise<void> {
  registerNotifications(deps.notifications);
  registerWrapup(deps);
  registerScreenPop(deps);
  await registerClickToDial(deps).catch(() => deps.log?.('click-to-dial could not be enabled'));
}
