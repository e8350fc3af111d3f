/** The panel's words live in src/panel/wording.ts: the server renders with them and hands them to the browser. */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEAF_STATES } from '../../machines/oauthDevice.ts';
import { browserWording, LIVE_LABELS, STATE_TITLES, STATE_TONE } from '../../src/panel/wording.ts';
import { login, panelUnderTest, type PanelUnderTest } from './support.ts';

const PANEL_JS = new URL('../../src/panel/public/panel.js', import.meta.url);

const ENTITIES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" };

/** The page's `data-wording` attribute, unescaped as a browser would, and parsed. */
function wordingBlock(html: string): unknown {
  const m = /<body [^>]*\bdata-wording="([^"]*)"/.exec(html);
  if (!m) throw new Error('no data-wording on the page');
  return JSON.parse(m[1]!.replace(/&(amp|lt|gt|quot|#39);/g, (e) => ENTITIES[e]!));
}

describe('the browser script holds no copy of the wording', () => {
  it('no state title, tone table or live label appears in panel.js', async () => {
    const js = await readFile(PANEL_JS, 'utf8');
    for (const title of Object.values(STATE_TITLES)) expect(js, title).not.toContain(title);
    for (const label of Object.values(LIVE_LABELS)) expect(js, label).not.toContain(label);
    // No state is named in it either: a tone or title table keyed by state would have to.
    for (const state of LEAF_STATES) expect(js, state).not.toMatch(new RegExp(`\\b${state}\\b`));
  });
});

describe('pages carry the wording in a data attribute', () => {
  let p: PanelUnderTest;
  let cookie: string;
  beforeAll(async () => {
    p = await panelUnderTest();
    ({ cookie } = await login(p.app));
  });
  afterAll(() => p.close());

  it.each(['/status', '/oauth', '/jobs', '/events'])('%s embeds exactly the module’s wording', async (url) => {
    const res = await p.app.inject({ method: 'GET', url, headers: { cookie } });
    expect(res.statusCode).toBe(200);
    expect(wordingBlock(res.body)).toEqual(browserWording());
  });

  it('the login page has it too (one layout), and the header badge is rendered from the same titles and tones', async () => {
    const loginPage = await p.app.inject({ method: 'GET', url: '/login' });
    expect(wordingBlock(loginPage.body)).toEqual(browserWording());
    const res = await p.app.inject({ method: 'GET', url: '/status', headers: { cookie } });
    const state = p.sim.device.state();
    const badge = /<span class="badge tone-([a-z]+)" id="header-state" data-state="([A-Za-z]+)">([^<]*)<\/span>/.exec(res.body);
    expect(badge?.slice(1)).toEqual([STATE_TONE[state], state, STATE_TITLES[state]]);
  });

  it('it is data, not script: no inline <script> element, and the CSP still allows none', async () => {
    const res = await p.app.inject({ method: 'GET', url: '/status', headers: { cookie } });
    expect(res.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toMatch(/script-src 'self'/);
    expect(csp).not.toContain('unsafe-inline');
  });
});
