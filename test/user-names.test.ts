import test from 'ava';
import { cleanup, startReplicas, type Forge } from './helpers/index.js';

test.after.always(cleanup);

const usersNamed = async (api: Forge['api'], username: string) =>
  ((await api.json('GET', '/api/users')) as { username: string }[]).filter((u) => u.username.toLowerCase() === username.toLowerCase());

test('replicas starting together on one Redis all come up, with one admin between them', async (t) => {
  const [a, b, c] = await startReplicas(3);
  for (const forge of [a, b, c]) t.is(forge.process.exitCode, null);
  t.is((await usersNamed(a.api, 'admin')).length, 1);
  // Every replica logged in as that one admin (startForge does).
  t.is((await c.api.json('GET', '/api/user')).username, 'admin');
});

test('concurrent creates of one username on two replicas: one 201, the rest 409 naming the field, one user', async (t) => {
  const [a, b] = await startReplicas(3);
  const attempts = await Promise.all(
    Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).api.post('/api/users', { username: 'Dana', name: 'Dana', email: `dana${i}@example.test`, password: 'dana-password-1' })),
  );
  t.deepEqual(attempts.map((r) => r.status).sort(), [201, ...Array<number>(11).fill(409)]);
  for (const refused of attempts.filter((r) => r.status === 409)) t.regex(refused.body.error, /^username: a user with login "Dana" exists already/);
  t.is((await usersNamed(a.api, 'dana')).length, 1);
  // The same e-mail address under another username is refused too, naming that field.
  const winner = attempts.find((r) => r.status === 201)!.body as { email: string };
  const sameEmail = await b.api.post('/api/users', { username: 'dana2', email: winner.email.toUpperCase(), password: 'dana-password-1' });
  t.is(sameEmail.status, 409);
  t.regex(sameEmail.body.error, /^email: /);
  t.is((await usersNamed(a.api, 'dana2')).length, 0);
});

test('six users renamed to one username at once on two replicas: one wins; a name given up is free again', async (t) => {
  const [a, b] = await startReplicas(3);
  const names = ['erin', 'finn', 'gwen', 'hugo', 'ines', 'joel'];
  const users: { id: number }[] = [];
  for (const username of names) users.push(await a.api.json('POST', '/api/users', { username, password: `${username}-password-1` }));
  const renames = await Promise.all(users.map((user, i) => (i % 2 ? a : b).api.put(`/api/users/${user.id}`, { username: 'ops-lead' })));
  t.deepEqual(renames.map((r) => r.status).sort(), [204, 409, 409, 409, 409, 409]);
  for (const refused of renames.filter((r) => r.status === 409)) t.regex(refused.body.error, /^username: a user with login "ops-lead" exists already/);
  t.is((await usersNamed(a.api, 'ops-lead')).length, 1);
  // The one renamed gave up their old name: a new user may take it, and logs in with it; the others kept theirs.
  const renamed = names[renames.findIndex((r) => r.status === 204)]!;
  t.is((await usersNamed(b.api, renamed)).length, 0);
  for (const kept of names.filter((n) => n !== renamed)) t.is((await usersNamed(b.api, kept)).length, 1);
  t.is((await b.api.post('/api/users', { username: renamed, password: 'new-password-1' })).status, 201);
  const login = await a.api.anonymous().post('/api/auth/login', { auth: renamed, password: 'new-password-1' });
  t.is(login.status, 204);
});
