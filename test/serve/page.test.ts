// The read-only status page, as a browser shows it: headless Chromium (Debian's chromium through
// playwright-core) on the real server. The three seed followers in every phase; hostile strings
// from the state, the registry and git shown as text; links; and what the HTTP answers promise.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { checkBranchName } from '../../src/core/branch-name.ts';
import { PHASES } from '../../src/core/phases.ts';
import { PHASE_COLOURS } from '../../src/serve/html.ts';
import { TIMELINE_LIMIT } from '../../src/serve/timeline.ts';
import { SEED_IDS } from '../support/arbitraries.ts';
import { createSeedServeWorld, createServeWorld, fixtureState, roundRobinFollowers, type ServeWorld } from '../support/serve-world.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);

/** `#rrggbb` as the browser reports a computed colour. */
const rgb = (hex: string): string => {
  const n = Number.parseInt(hex.slice(1), 16);
  return `rgb(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255})`;
};

describe('the status page in headless Chromium', () => {
  let browser: Browser | null = null;
  let page: Page;
  const dialogs: string[] = [];
  beforeAll(async () => {
    if (!haveChromium) {
      // CI installs Debian's chromium (.ci/run): there, a missing browser is a failure, not a skip.
      if (process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing: .ci/run installs the chromium package`);
      return;
    }
    browser = await chromium.launch({ executablePath: CHROMIUM });
    page = await browser.newPage({ javaScriptEnabled: true });
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
  });

  it('renders the three seed followers in every phase, with its colour, and links to each follower page and back', async (ctx) => {
    if (!browser) return ctx.skip();
    for (const phase of PHASES) {
      const w = await createSeedServeWorld(
        SEED_IDS.map((id, i) => fixtureState(id, phase, { index: i + 1 })),
        { driver: 'local' },
      );
      try {
        await page.goto(`${w.url}/`);
        expect(await page.locator('tbody tr').count(), phase).toBe(SEED_IDS.length);
        for (const id of SEED_IDS) {
          const row = page.locator(`tbody tr[id="${id}"]`);
          const badge = row.locator('.phase');
          expect(await badge.textContent()).toBe(phase);
          expect(await badge.evaluate((e) => e.ownerDocument.defaultView?.getComputedStyle(e).backgroundColor)).toBe(rgb(PHASE_COLOURS[phase]));
          // The registry's adapter and the owning config's branch, as status shows them.
          expect(await row.textContent()).toContain(w.states.get(id)?.observedSha?.slice(0, 12));
        }
        const id = SEED_IDS[0];
        await page.locator(`tbody tr[id="${id}"] a`).click();
        expect(new URL(page.url()).pathname).toBe(`/followers/${id}`);
        expect(await page.locator('h1').textContent()).toBe(`${id} ${phase}`);
        const history = w.states.get(id)?.history ?? [];
        const slots = page.locator('svg g.slot');
        expect(await slots.count()).toBe(Math.min(history.length, TIMELINE_LIMIT));
        expect(await slots.last().getAttribute('data-to')).toBe(phase);
        expect(await page.locator('table tbody tr').count()).toBe(history.length);
        await page.locator('a', { hasText: 'all followers' }).click();
        expect(new URL(page.url()).pathname).toBe('/');
      } finally {
        await w.cleanup();
      }
    }
    expect(dialogs).toEqual([]);
  }, 300_000);

  it('shows HTML and script in branch names, reasons and transitions as text, and runs none of it', async (ctx) => {
    if (!browser) return ctx.skip();
    const branch = `x/<script>alert(1)</script>`;
    expect(checkBranchName(branch).ok).toBe(true);
    const reason = `<img src=x onerror=alert(2)> "quoted" & 'single' </td></tr></table><b>bold</b>`;
    const [f] = roundRobinFollowers(1);
    if (!f) throw new Error('no follower');
    const w = await createServeWorld([{ ...f, branch, phase: 'Blocked', reason: `${reason} </svg></title><script>alert(3)</script>` }], { driver: 'kubernetes' });
    try {
      const raw = await (await fetch(`${w.url}/followers/${f.id}`)).text();
      expect(raw).not.toMatch(/<script|<img|<b>bold/i);
      for (const path of ['/', `/followers/${f.id}`]) {
        await page.goto(`${w.url}${path}`);
        expect(await page.locator('script, img').count()).toBe(0);
        expect(await page.locator('b', { hasText: 'bold' }).count()).toBe(0);
        const text = await page.locator('main').innerText();
        expect(text).toContain(branch);
        expect(text).toContain(reason);
      }
      // The transition's reason is the timeline slot's tooltip, as text.
      expect(await page.locator('svg g.slot title').last().textContent()).toContain('</svg></title><script>alert(3)</script>');
      expect(dialogs).toEqual([]);
    } finally {
      await w.cleanup();
    }
  }, 120_000);
});

describe('the pages over HTTP', () => {
  let w: ServeWorld;
  beforeAll(async () => {
    w = await createServeWorld(roundRobinFollowers(3), { driver: 'local' });
  });
  afterAll(async () => {
    await w?.cleanup();
  });

  it('answer HTML with a policy that runs no script, 404 for an unknown follower, and no write method', async () => {
    const r = await fetch(`${w.url}/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(r.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await r.text();
    for (const id of ['app-0000', 'app-0001', 'app-0002']) expect(html).toContain(`href="/followers/${id}"`);
    expect((await fetch(`${w.url}/followers/app-0001`)).status).toBe(200);
    const missing = await fetch(`${w.url}/followers/nobody`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain('No follower nobody in the registry.');
    expect((await fetch(`${w.url}/followers/%E0%A4%A`)).status).toBe(404);
    for (const path of ['/', '/followers/app-0001', '/metrics']) expect((await fetch(`${w.url}${path}`, { method: 'POST' })).status).toBe(405);
    // Forms and buttons would be write actions: there are none.
    expect(html).not.toMatch(/<form|<button|method=/i);
  });
});
