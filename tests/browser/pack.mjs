// Drives the orderhub packing station (/pack) in Debian's headless Chromium
// like a USB scanner does: it types each barcode into the focused field and
// presses Enter. Run by tests/pack_verify.rs:
//
//   node pack.mjs <base_url> <token> <screenshot_path> '<expectations JSON>'
//
// expectations: { good, bad: shipment ids; good_lines, bad_lines:
// [{sku, quantity}]; wrong: a sku in neither }. The good shipment gets every
// unit → Finish → verified, label allowed. The bad one gets a wrong item
// (flagged in red) and Finish with units missing → blocked, label blocked.
// Any request leaving the server under test fails the run. Exit 0 on success.

import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [base, token, shot, expectJson] = process.argv.slice(2);
if (!base || !token || !shot || !expectJson) {
  console.error('usage: node pack.mjs <base_url> <token> <screenshot_path> <expectations JSON>');
  process.exit(2);
}
const expect = JSON.parse(expectJson);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
fs.mkdirSync(path.dirname(shot), { recursive: true });
const shotName = (suffix) => path.join(path.dirname(shot), `${path.basename(shot, '.png')}-${suffix}.png`);

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderhub-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath,
  headless: true,
  viewport: { width: 1360, height: 900 },
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const problems = [];
const offsite = [];
await context.route('**/*', (route) => {
  const url = route.request().url();
  if (url.startsWith(base) || url.startsWith('data:')) return route.continue();
  offsite.push(url);
  return route.abort();
});
const step = (msg) => console.log(`pack.mjs: ${msg}`);

try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.setDefaultTimeout(30000);

  step('sign in');
  await page.goto(`${base}/login`);
  await page.fill('input[name=token]', token);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/login')), page.press('input[name=token]', 'Enter')]);

  // A scanner types into whatever has the focus: the field must have it
  // before the first key, or the first characters go nowhere.
  const focused = (why) => page.waitForFunction(() => document.activeElement && document.activeElement.id === 'code', null, { timeout: 15000 })
    .catch(() => { throw new Error(why); });
  const openPack = async () => {
    await page.goto(`${base}/pack`);
    await focused('the scan field is not focused on arrival');
  };

  step('open /pack');
  await openPack();

  // Type like a scanner: characters, then Enter; the page reloads focused.
  const scan = async (code) => {
    await page.keyboard.type(code, { delay: 5 });
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.keyboard.press('Enter')]);
    // autofocus is applied at the next rendering update after load.
    await focused(`focus not back on the scan field after ${code}`);
  };

  step(`scan shipment ${expect.good} and its items`);
  await scan(`SHIP-${expect.good}`);
  assert.match(await page.textContent('h1'), new RegExp(`Shipment ${expect.good}\\b`));
  for (const l of expect.good_lines) {
    for (let i = 0; i < l.quantity; i++) {
      await scan(l.sku);
      assert.equal(await page.getAttribute('#last-scan', 'data-result'), 'ok', `${l.sku} scanned ok`);
    }
    const row = page.locator(`#pack-lines tr[data-sku="${l.sku}"] td`);
    assert.equal((await row.nth(4).textContent()).trim(), String(l.quantity), `${l.sku}: scanned count shown`);
  }
  await page.fill('#weight', '');
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('#finish-form button')]);
  assert.match(await page.textContent('#session-status'), /verified/);
  assert.match(await page.textContent('#label-gate'), /Label allowed/);
  await page.screenshot({ path: shotName('verified'), fullPage: true });

  step(`scan shipment ${expect.bad}: a wrong item, then Finish with units missing`);
  await openPack();
  await scan(`SHIP-${expect.bad}`);
  assert.match(await page.textContent('h1'), new RegExp(`Shipment ${expect.bad}\\b`));
  await scan(expect.wrong);
  assert.equal(await page.getAttribute('#last-scan', 'data-result'), 'wrong_item');
  const lastClass = await page.getAttribute('#last-scan', 'class');
  assert.match(lastClass, /\bbad\b/, 'a wrong item is flagged');
  const red = await page.$eval('#last-scan', (e) => getComputedStyle(e).color);
  assert.notEqual(red, 'rgb(0, 0, 0)', 'the flag is coloured by the stylesheet');
  assert.match(await page.textContent('#mismatches'), /1 wrong item/);
  assert.match(await page.textContent('#label-gate'), /Label blocked/);
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('#finish-form button')]);
  assert.match(await page.textContent('#session-status'), /blocked/);
  const missing = expect.bad_lines.reduce((n, l) => n + l.quantity, 0);
  assert.match(await page.textContent('#mismatches'), new RegExp(`${missing} missing unit`));
  assert.match(await page.textContent('#label-gate'), /Label blocked/);
  assert.equal(await page.locator('#override-form').count(), 1, 'an override is offered');
  await page.screenshot({ path: shot, fullPage: true });

  assert.deepEqual(problems, [], 'no console errors, no CSP violations');
  assert.deepEqual(offsite, [], 'nothing loaded from outside');
  step('ok');
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
