// Copy to appConfig.js for `npm start` (local Flex with this plugin).
var appConfig = {
  pluginService: { enabled: true, url: '/plugins' },
  logLevel: 'info',
};
