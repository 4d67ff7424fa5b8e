// Jest 27's node environment runs tests in a fresh context without Node's
// own fetch; the integration test needs the real one, as a browser has it.
const NodeEnvironment = require('jest-environment-node');

class FetchEnvironment extends NodeEnvironment {
  async setup() {
    await super.setup();
    this.global.fetch = fetch;
    this.global.AbortController = AbortController;
  }
}

module.exports = FetchEnvironment;
