/**
 * OIDC login in the web UI (headless Chromium) against a real OpenID provider: the login page
 * shows a button per provider; the button takes the browser through the provider and back, logged
 * in as the provider's user, to the page it came from; a failed sign-on comes back to the login
 * page with the reason. Screenshots: test-output/e2e/oidc/.
 */
import test from 'ava';
import { cleanup, startForge, type Forge } from './helpers/index.js';
import { e2eOutputDir, ensureWebBuilt, openBrowser, type Browser } from './helpers/e2e.js';
import { type OidcProvider, startOidcProvider } from './helpers/oidc.js';

test.after.always(cleanup);

const out = e2eOutputDir('oidc');
let forge: Forge;
let idp: OidcProvider;
let browser: Browser;
/** Forge as browsers reach it (web_host): the state cookie and the callback live there. */
let webHost: string;

test.before(async () => {
  idp = await startOidcProvider();
  const [, f] = await Promise.all([
    ensureWebBuilt(),
    startForge({ configFile: { oidc_providers: { corp: { display_name: 'Sign in with Corp SSO', provider_url: idp.issuer, client_id: 'forge', client_secret: 'corp-secret', name_claim: 'name' } } } }),
  ]);
  forge = f;
  webHost = (await forge.api.json('GET', '/api/info')).web_host;
  idp.registerClient({ client_id: 'forge', client_secret: 'corp-secret', redirect_uris: [`${webHost}/api/auth/oidc/corp/redirect`] });
  browser = await openBrowser(out);
});

test.serial('the provider button logs in through the provider and returns to the page asked for', async (t) => {
  idp.signInAs({ sub: 'frank-sub', email: 'frank@example.test', email_verified: true, preferred_username: 'frank', name: 'Frank F.' });
  const page = browser.page;
  await page.goto(`${webHost}/runners`);
  await page.waitForURL(/\/login\?next=/);
  const button = page.getByRole('link', { name: 'Sign in with Corp SSO' });
  await button.waitFor();
  await browser.shot('01-login-page');
  await button.click();
  await page.locator('.user-btn').waitFor();
  t.is(new URL(page.url()).pathname, '/runners');
  await browser.shot('02-logged-in');
  const me = await page.evaluate(async () => (await fetch('/api/user')).json());
  t.like(me, { username: 'frank', name: 'Frank F.', external: true });
  t.deepEqual(browser.errors(), []);
});

test.serial('a failed sign-on shows the reason on the login page', async (t) => {
  const other = await openBrowser(out);
  await other.page.goto(`${webHost}/api/auth/oidc/corp/redirect?state=forged&code=x`);
  await other.page.waitForURL(/\/login\?oidc_error=/);
  const alert = other.page.getByRole('alert');
  await alert.waitFor();
  t.regex((await alert.textContent()) ?? '', /Single sign-on failed: state: does not match the login this browser started/);
  await other.shot('03-sign-on-failed');
  t.is((await other.page.evaluate(async () => (await fetch('/api/user')).status)), 401);
});
