// The bridge client against a running bridge (BRIDGE_URL, FLEX_TOKEN and
// record ids come from the Go test that starts it: test/e2e/flexplugin_test.go).
const preset = require('@twilio/flex-plugin-test/jest-preset');

module.exports = {
  ...preset,
  roots: ['<rootDir>/src', '<rootDir>/test'],
  testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
  testEnvironment: '<rootDir>/test/integration/environment.js',
  setupFiles: [],
  setupFilesAfterEnv: [],
};
