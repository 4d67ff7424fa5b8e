// Browser test of the tracer's desktop in Debian's Chromium (playwright-core,
// no downloaded browser): the demo page at DEMO_URL runs the plugin's modules
// against a real bridge and the simulators. It plays click-to-dial, the
// wrap-up panel (outcome, follow-up, a date in the past refused), the
// picker for a caller two records share, an unknown caller, and checks that
// the activity and the open follow-up land in the Salesforce simulator.
// Screenshots go to ARTIFACTS_DIR (default flex-plugin/artifacts).
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const base = process.env.DEMO_URL;
if (!base) {
  console.error('DEMO_URL is not set (the Go test test/e2e TestFlexPluginBrowser starts the demo and sets it)');
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const artifacts = process.env.ARTIFACTS_DIR || path.join(here, '..', '..', 'artifacts');
mkdirSync(artifacts, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
});
let passed = 0;
let failed = 0;
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
page.setDefaultTimeout(30000);
const consoleErrors = [];
page.on('pageerror', (e) => consoleErrors.push(String(e)));

async function step(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.message}`);
    await page.screenshot({ path: path.join(artifacts, `failed-${name.replace(/\W+/g, '-')}.png`), fullPage: true }).catch(() => {});
  }
}
const shot = (name) => page.screenshot({ path: path.join(artifacts, name), fullPage: true });
const expectText = async (locator, text) => {
  await locator.filter({ hasText: text }).first().waitFor();
};
const localDate = (days) =>
  page.evaluate((d) => {
    const t = new Date(Date.now() + d * 86400000);
    const p = (n) => String(n).padStart(2, '0');
    return `${t.getFullYear()}-${p(t.getMonth() + 1)}-${p(t.getDate())}`;
  }, days);

await page.goto(base + '/demo/agent');
const task = page.locator('[data-testid="task"]');
const activities = page.locator('[data-testid="sf-activities"] tbody tr');

await step('record list', async () => {
  await page.locator('[data-testid="sf-records"] tbody tr').first().waitFor();
  const body = await page.locator('[data-testid="sf-records"]').innerText();
  if (!body.includes('Mei Chen') || !body.includes('Rosa Diaz')) throw new Error('records missing: ' + body);
  if (body.includes('Protected')) throw new Error('a protected field reached the page');
});

await step('click-to-dial carries the bridge context', async () => {
  await page.locator('tr', { hasText: 'Mei Chen' }).locator('a.dial').first().click();
  await expectText(page.locator('[data-testid="crm-context"]'), 'Mei');
  await page.locator('[data-testid="named-contact-reminder"]').waitFor();
  const attrs = JSON.parse(await page.locator('[data-testid="task-attributes"]').textContent());
  if (attrs.crm?.name !== 'Mei' || attrs.to !== '+19175550164' || !attrs.crm?.record_id) throw new Error('attributes: ' + JSON.stringify(attrs));
  if (JSON.stringify(attrs).includes('Protected')) throw new Error('a protected field reached the task');
  await shot('desk-click-to-dial.png');
});

await step('a record without a callable mobile number: the call is not placed, and the tracer sees why', async () => {
  const before = await page.locator('ul.tasks li').count();
  await page.locator('tr', { hasText: 'Tomas Diaz' }).locator('a.dial').first().click();
  await expectText(page.locator('[data-testid="toast"]'), 'Call not placed');
  await expectText(page.locator('[data-testid="toast"]'), 'MobilePhone');
  if ((await page.locator('ul.tasks li').count()) !== before) throw new Error('a task was created for a refused call');
  await shot('desk-refused.png');
});

await step('completing without an outcome is refused', async () => {
  await page.locator('[data-testid="complete"]').click();
  await expectText(page.locator('[data-testid="toast"]'), 'Choose the call outcome');
  if ((await task.getAttribute('data-status')) === 'completed') throw new Error('completed without an outcome');
});

await step('wrap-up panel refuses a past follow-up date', async () => {
  await page.locator('[data-testid="wrapup-follow-up"]').fill(await localDate(-1));
  await page.locator('[data-testid="wrapup-date-error"]').waitFor();
});

let followUp;
await step('wrap-up writes the outcome and follow-up into Salesforce', async () => {
  await page.locator('[data-testid="wrapup-outcome"]').selectOption('Reached');
  followUp = await localDate(2);
  await page.locator('[data-testid="wrapup-follow-up"]').fill(followUp);
  await shot('desk-wrap-up.png');
  await page.locator('[data-testid="wrapup"]').click();
  await page.locator('[data-testid="complete"]').click();
  await page.locator('[data-testid="task"][data-status="completed"]').waitFor();
  await activities.filter({ hasText: 'Mei Chen' }).filter({ hasText: 'Reached' }).first().waitFor();
  await activities.filter({ hasText: 'Mei Chen' }).filter({ hasText: 'Not Started' }).filter({ hasText: followUp }).first().waitFor();
});

await step('inbound caller with two records gets the picker', async () => {
  await page.locator('[data-testid="inbound-number"]').selectOption('+16465550147');
  await page.locator('[data-testid="inbound-call"]').click();
  const picker = page.locator('[data-testid="caller-picker"]');
  await picker.waitFor();
  const names = await picker.locator('button').allInnerTexts();
  if (names.length !== 2 || !names.some((n) => n.includes('Rosa')) || !names.some((n) => n.includes('Tomas'))) throw new Error('picker: ' + names);
  await shot('desk-picker.png');
  await picker.locator('button', { hasText: 'Tomas' }).click();
  await expectText(page.locator('[data-testid="caller-picked"]'), 'Tomas');
  await page.locator('tr.popped', { hasText: 'Tomas Diaz' }).waitFor(); // screen pop through Open CTI
  const attrs = JSON.parse(await page.locator('[data-testid="task-attributes"]').textContent());
  if (!attrs.crm?.record_id || attrs.direction !== 'inbound') throw new Error('attributes: ' + JSON.stringify(attrs));
  if (await page.locator('[data-testid="named-contact-reminder"]').count()) throw new Error('reminder on an inbound call');
});

await step('the inbound activity lands on the picked record', async () => {
  await page.locator('[data-testid="wrapup-outcome"]').selectOption('Left voicemail');
  await page.locator('[data-testid="complete"]').click();
  await activities.filter({ hasText: 'Tomas Diaz' }).filter({ hasText: 'Left voicemail' }).first().waitFor();
  await shot('desk-activities.png');
});

await step('an unknown caller is said so', async () => {
  await page.locator('[data-testid="inbound-number"]').selectOption('+19295550100');
  await page.locator('[data-testid="inbound-call"]').click();
  await page.locator('[data-testid="caller-unknown"]').waitFor();
});

await step('no page errors', async () => {
  if (consoleErrors.length) throw new Error(consoleErrors.join('; '));
});

await browser.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
