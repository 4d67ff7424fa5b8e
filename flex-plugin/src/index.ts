import * as FlexPlugin from '@twilio/flex-plugin';

import BridgeDesktopPlugin from './BridgeDesktopPlugin';

FlexPlugin.loadPlugin(BridgeDesktopPlugin);
