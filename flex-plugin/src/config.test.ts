import { bridgeUrl } from './config';

describe('bridgeUrl', () => {
  it('reads ui_attributes.bridge_desktop.bridge_url, then the build-time value', () => {
    expect(bridgeUrl({ ui_attributes: { bridge_desktop: { bridge_url: 'https://bridge.example.gov/' } } })).toBe('https://bridge.example.gov');
    expect(bridgeUrl({}, 'https://fallback.example.gov/base/')).toBe('https://fallback.example.gov/base');
    expect(bridgeUrl(undefined, 'http://localhost:8080')).toBe('http://localhost:8080');
  });
  it('refuses a missing, malformed or plain-http URL (the Flex token must not travel in clear)', () => {
    expect(bridgeUrl({})).toBeUndefined();
    expect(bridgeUrl({ ui_attributes: { bridge_desktop: { bridge_url: 'not a url' } } })).toBeUndefined();
    expect(bridgeUrl({ ui_attributes: { bridge_desktop: { bridge_url: 'http://bridge.example.gov' } } })).toBeUndefined();
  });
});
