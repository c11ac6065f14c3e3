// Drives the orderhub dashboard in Debian's headless Chromium (no browser
// download: playwright-core with /usr/bin/chromium). Run by tests/dashboard.rs:
//
//   node dashboard.mjs <base_url> <token> <screenshot_path> '<expectations JSON>'
//
// Signs in with the token, checks the order list, filters it, opens an order
// and its timeline, retries the failed job, looks at channels, stock and KPIs,
// and saves screenshots (<screenshot_path> is the order list; the other pages
// are saved next to it). Any request leaving the server under test is blocked
// and fails the run: the dashboard must work offline. Exit code 0 on success.

import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [base, token, shot, expectJson] = process.argv.slice(2);
if (!base || !token || !shot) {
  console.error('usage: node dashboard.mjs <base_url> <token> <screenshot_path> [expectations JSON]');
  process.exit(2);
}
const expect = JSON.parse(expectJson || '{}');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const shotDir = path.dirname(shot);
const shotName = (suffix) => path.join(shotDir, `${path.basename(shot, '.png')}-${suffix}.png`);
fs.mkdirSync(shotDir, { recursive: true });

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

const step = (msg) => console.log(`dashboard.mjs: ${msg}`);

try {
  const page = context.pages()[0] ?? (await context.newPage());
  // Expected 401/404 answers are logged by Chromium as failed loads; anything
  // else (a CSP violation, a script error) is a problem.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.setDefaultTimeout(15000);

  // Not signed in: the dashboard sends us to the login form.
  step('open / without a session');
  await page.goto(`${base}/`);
  assert.match(page.url(), /\/login$/, 'redirected to /login');

  step('a wrong token is refused');
  await page.fill('input[name=token]', 'not-a-token');
  await page.click('form[action="/login"] button[type=submit]');
  await page.waitForSelector('.notice.bad');
  assert.match(page.url(), /\/login$/);

  step('sign in');
  await page.fill('input[name=token]', token);
  await page.click('form[action="/login"] button[type=submit]');
  await page.waitForURL(/\/orders$/);

  // The order list: exactly the seller's orders.
  const rows = page.locator('#orders tbody tr.order');
  if (expect.orders !== undefined) {
    assert.equal(await rows.count(), expect.orders, 'orders listed');
    assert.match(await page.textContent('#order-count'), new RegExp(`^${expect.orders} orders? on this page`));
  }
  const listText = await page.textContent('#orders');
  for (const hidden of expect.hidden ?? []) {
    assert.ok(!listText.includes(hidden), `another seller's order ${hidden} is not listed`);
  }
  assert.ok(await page.locator('header.top nav a.active', { hasText: 'Orders' }).count() === 1);
  await page.screenshot({ path: shot, fullPage: true });
  step(`screenshot ${shot}`);

  // Filter by status (a select) and see the rows change.
  if (expect.status) {
    step(`filter status=${expect.status}`);
    await page.selectOption('#order-filters select[name=status]', expect.status);
    await page.click('#order-filters button[type=submit]');
    await page.waitForURL(new RegExp(`status=${expect.status}`));
    const n = await page.locator('#orders tbody tr.order').count();
    assert.equal(n, expect.status_count, `orders in status ${expect.status}`);
    if (n === 0) await page.waitForSelector('#no-orders');
    await page.click('a.button.plain:has-text("Clear")');
    await page.waitForURL(/\/orders$/);
  }

  // Text search.
  if (expect.search) {
    step(`search ${expect.search}`);
    await page.fill('#order-filters input[name=q]', expect.search);
    await page.click('#order-filters button[type=submit]');
    await page.waitForURL(/[?&]q=/);
    const found = page.locator('#orders tbody tr.order');
    assert.equal(await found.count(), expect.search_count, 'search results');
    for (const t of await found.allTextContents()) {
      assert.ok(t.toLowerCase().includes(expect.search.toLowerCase()) || expect.search_anywhere,
        `row matches the search: ${t}`);
    }
    assert.equal(await page.inputValue('#order-filters input[name=q]'), expect.search, 'the form keeps the search');
  }

  // Open an order: lines, and its timeline.
  step('open an order');
  const link = expect.order_id !== undefined
    ? page.locator(`#orders tr.order[data-id="${expect.order_id}"] a`)
    : page.locator('#orders tr.order a').first();
  await link.click();
  await page.waitForURL(/\/orders\/\d+$/);
  if (expect.order_id !== undefined) assert.match(page.url(), new RegExp(`/orders/${expect.order_id}$`));
  await page.waitForSelector('#order-title');
  if (expect.order_number) assert.ok((await page.textContent('#order-title')).includes(expect.order_number));
  assert.ok(await page.locator('#lines tbody tr').count() >= 1, 'the order has lines');
  const events = page.locator('#timeline li');
  assert.ok(await events.count() >= 1, 'the timeline shows');
  assert.ok((await page.textContent('#timeline')).includes('synced'), 'the timeline starts with synced');
  await page.screenshot({ path: shotName('order'), fullPage: true });

  // Another seller's order is not found.
  if (expect.foreign_order_id !== undefined) {
    step('another seller\'s order is a 404');
    const r = await page.goto(`${base}/orders/${expect.foreign_order_id}`);
    assert.equal(r.status(), 404);
  }

  // Jobs: the failed one is highlighted and has a Retry button.
  step('retry the failed job');
  await page.goto(`${base}/orders`);
  await page.click('header.top nav a[href="/jobs"]');
  await page.waitForURL(/\/jobs$/);
  await page.click('a.button.plain:has-text("Failed only")');
  await page.waitForURL(/status=Failed/);
  const failedRow = page.locator(`#jobs tr.job[data-id="${expect.failed_job}"]`);
  assert.equal(await failedRow.count(), 1, 'the failed job is listed');
  assert.match(await failedRow.getAttribute('class'), /failed/);
  for (const hidden of expect.hidden_jobs ?? []) {
    assert.equal(await page.locator(`#jobs tr.job[data-id="${hidden}"]`).count(), 0,
      `another seller's job ${hidden} is not listed`);
  }
  await page.screenshot({ path: shotName('jobs-failed'), fullPage: true });
  await failedRow.locator('button.retry').click();
  await page.waitForURL(/retried=/);
  assert.ok((await page.textContent('#retried')).includes(expect.failed_job));
  assert.equal(await page.locator(`#jobs tr.job[data-id="${expect.failed_job}"]`).count(), 0,
    'no longer among the failed');
  await page.goto(`${base}/jobs`);
  const retried = page.locator(`#jobs tr.job[data-id="${expect.failed_job}"]`);
  assert.equal(await retried.getAttribute('data-status'), 'Pending');
  await page.screenshot({ path: shotName('jobs'), fullPage: true });

  step('channels, stock, KPIs');
  await page.click('header.top nav a[href="/channels"]');
  await page.waitForSelector('#channels');
  for (const c of expect.channels ?? []) {
    assert.equal(await page.locator(`#channel-${c}`).count(), 1, `channel ${c} listed`);
  }
  await page.screenshot({ path: shotName('channels'), fullPage: true });
  await page.click('header.top nav a[href="/stock"]');
  if (expect.low_stock !== undefined) {
    await page.waitForSelector('#low-stock');
    assert.equal(await page.locator('#low-stock tbody tr').count(), expect.low_stock, 'low-stock rows');
  }
  await page.screenshot({ path: shotName('stock'), fullPage: true });
  await page.click('header.top nav a[href="/kpis"]');
  await page.waitForSelector('#kpi-tiles');
  assert.ok(await page.locator('svg.chart').count() >= 3, 'KPI charts drawn');
  await page.screenshot({ path: shotName('kpis'), fullPage: true });

  step('log out');
  await page.click('header.top form[action="/logout"] button');
  await page.waitForURL(/\/login$/);
  await page.goto(`${base}/orders`);
  assert.match(page.url(), /\/login$/, 'signed out');

  assert.deepEqual(offsite, [], 'no request left the server under test');
  assert.deepEqual(problems, [], 'no console errors');
  step('ok');
} catch (e) {
  console.error(`dashboard.mjs: FAILED: ${e.stack || e}`);
  if (problems.length) console.error(problems.join('\n'));
  try {
    const p = context.pages()[0];
    if (p) await p.screenshot({ path: shotName('failure'), fullPage: true });
  } catch {}
  process.exitCode = 1;
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
