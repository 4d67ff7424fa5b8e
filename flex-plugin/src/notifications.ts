// The plugin's notifications, shown through Flex's Notifications API.
import type { NotificationsLike } from './flex';

export const N = {
  callRefused: 'BridgeDesktopCallRefused',
  lookupFailed: 'BridgeDesktopLookupFailed',
  outcomeMissing: 'BridgeDesktopOutcomeMissing',
  followUpInvalid: 'BridgeDesktopFollowUpInvalid',
  wrapupFailed: 'BridgeDesktopWrapupFailed',
} as const;

export function registerNotifications(n: NotificationsLike): void {
  n.registerNotification({ id: N.callRefused, type: 'error', content: 'Call not placed: {{reason}}', timeout: 10000 });
  n.registerNotification({ id: N.lookupFailed, type: 'warning', content: 'Caller lookup failed: {{reason}}', timeout: 8000 });
  n.registerNotification({ id: N.outcomeMissing, type: 'error', content: 'Choose the call outcome before completing the task.', timeout: 8000 });
  n.registerNotification({ id: N.followUpInvalid, type: 'error', content: 'The follow-up date must be today or later.', timeout: 8000 });
  n.registerNotification({ id: N.wrapupFailed, type: 'error', content: 'The outcome could not be saved on the task; try completing it again.', timeout: 10000 });
}
