// Twilio's Jest preset for Flex plugins (babel with TypeScript and JSX,
// jsdom), with the hand-written fakes under test/.
const preset = require('@twilio/flex-plugin-test/jest-preset');

module.exports = {
  ...preset,
  roots: ['<rootDir>/src', '<rootDir>/test/fakes'],
  testMatch: ['<rootDir>/src/**/*.test.{ts,tsx}'],
  testEnvironment: 'jsdom',
};
