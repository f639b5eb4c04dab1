/**
 * Project roles in the web UI (headless Chromium): the project's Settings page lists members with
 * their roles; an owner changes a role and adds a member there, and the API sees the change; a
 * guest sees the roles without the controls. Screenshots: test-output/e2e/roles/.
 */
import test from 'ava';
import type { Page } from 'playwright-core';
import { ADMIN_LOGIN, ADMIN_PASSWORD, ApiClient, cleanup, startForge, type Forge } from './helpers/index.js';
import { e2eOutputDir, ensureWebBuilt, openBrowser, uiLogin, type Browser } from './helpers/e2e.js';

test.after.always(cleanup);

const out = e2eOutputDir('roles');
let forge: Forge;
let browser: Browser;
let page: Page;

test.before(async () => {
  const [, f] = await Promise.all([ensureWebBuilt(), startForge()]);
  forge = f;
  browser = await openBrowser(out);
  page = browser.page;
});

test.serial('an owner sees members with roles on the Settings page, changes a role and adds a member', async (t) => {
  const project = await forge.api.json('POST', '/api/projects', { name: 'roles' });
  const alice = await forge.api.json('POST', '/api/users', { username: 'alice', name: 'Alice', password: 'alice-password-1' });
  const bob = await forge.api.json('POST', '/api/users', { username: 'bob', name: 'Bob', password: 'bob-password-1' });
  await forge.api.json('POST', `/api/project/${project.id}/users`, { user_id: alice.id, role: 'guest' });

  await page.goto(`${forge.url}/login`);
  await uiLogin(page, ADMIN_LOGIN, ADMIN_PASSWORD);
  await page.goto(`${forge.url}/project/${project.id}/settings`);
  await page.getByRole('heading', { name: 'Members' }).waitFor();
  await page.getByText('Your role:').getByText('owner').waitFor();
  const aliceRole = page.getByLabel('Role of alice');
  t.is(await aliceRole.inputValue(), 'guest');
  await browser.shot('01-members');

  await aliceRole.selectOption('manager');
  await page.getByText('alice is now manager').waitFor();
  const members = await forge.api.json('GET', `/api/project/${project.id}/users`);
  t.is(members.find((m: { id: number }) => m.id === alice.id).role, 'manager');

  await page.getByLabel('User to add').selectOption(String(bob.id));
  await page.getByLabel('Role of the new member').selectOption('task_runner');
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await page.getByLabel('Role of bob').waitFor();
  t.is(await page.getByLabel('Role of bob').inputValue(), 'task_runner');
  t.is((await new ApiClient(forge.url).login('bob', 'bob-password-1').then((c) => c.json('GET', `/api/project/${project.id}/role`))).role, 'task_runner');
  await browser.shot('02-member-added');
  t.deepEqual(browser.errors(), []);
});

test.serial('a guest sees the roles but no controls to change them', async (t) => {
  const [project] = await forge.api.json('GET', '/api/projects');
  const carol = await forge.api.json('POST', '/api/users', { username: 'carol', password: 'carol-password-1' });
  await forge.api.json('POST', `/api/project/${project.id}/users`, { user_id: carol.id, role: 'guest' });
  const guest = await openBrowser(out);
  await guest.page.goto(`${forge.url}/login`);
  await uiLogin(guest.page, 'carol', 'carol-password-1');
  await guest.page.goto(`${forge.url}/project/${project.id}/settings`);
  await guest.page.getByRole('heading', { name: 'Members' }).waitFor();
  await guest.page.getByText('Your role:').getByText('guest').waitFor();
  t.is(await guest.page.getByLabel('Role of alice').count(), 0, 'no role selects for a guest');
  t.is(await guest.page.getByRole('button', { name: 'Remove' }).count(), 0);
  await guest.page.getByRole('cell', { name: 'manager' }).waitFor();
  await guest.shot('03-guest-view');
  await guest.close();
});
