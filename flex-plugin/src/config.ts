// Where the bridge is: the Flex admin sets ui_attributes.bridge_desktop.bridge_url
// in the Flex Configuration; FLEX_APP_BRIDGE_URL at build time is the fallback.
export function bridgeUrl(serviceConfiguration: any, buildTime?: string): string | undefined {
  const fromFlex = serviceConfiguration?.ui_attributes?.bridge_desktop?.bridge_url;
  const url = typeof fromFlex === 'string' && fromFlex ? fromFlex : buildTime;
  if (!url) return undefined;
  try {
    const u = new URL(url);
    if (u.protocol !== 'https:' && u.hostname !== 'localhost' && u.hostname !== '127.0.0.1') return undefined;
    return u.origin + u.pathname.replace(/\/+$/, '');
  } catch {
    return undefined;
  }
}
