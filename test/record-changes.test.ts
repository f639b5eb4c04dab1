/**
 * Changes of one record made at once all land: a change is made from the record as Redis holds
 * it and written only if no other change landed since (record-swap.lua), else made anew. Before,
 * each change read the record, changed its copy and wrote the whole record back, so the last
 * write dropped what the others had changed (a member added, a password, a scheduler's field).
 */
import test from 'ava';
import { builtModule, cleanup, connectRedis, startRedis, startReplicas } from './helpers/index.js';

test.after.always(cleanup);

type CollectionModule = typeof import('../services/store/collection.js');

test('forty updates of different fields of one record, from two connections at once: every field lands', async (t) => {
  const { Collection } = await builtModule<CollectionModule>('services/store/collection.ts');
  const redis = await startRedis();
  const [one, two] = [connectRedis(t, redis.url), connectRedis(t, redis.url)];
  type Row = { id: number; name: string } & Record<string, unknown>;
  const rows = [new Collection<Row>(one as never, 'rows'), new Collection<Row>(two as never, 'rows')];
  const row = await rows[0]!.create({ name: 'first' });
  const fields = Array.from({ length: 40 }, (_, i) => `field${i}`);
  const updated = await Promise.all(fields.map((field, i) => rows[i % 2]!.update(row.id, { [field]: i })));
  t.true(updated.every((r) => r !== undefined));
  const stored = (await rows[1]!.get(row.id))!;
  t.deepEqual(fields.filter((field, i) => stored[field] !== i), [], 'every field set, none dropped by another update');
  t.is(stored.name, 'first');
  // A change of a record that is gone writes nothing: it stays gone.
  await rows[0]!.delete(row.id);
  t.is(await rows[1]!.update(row.id, { name: 'back' }), undefined);
  t.is(await one.hget('{forge}:rec:rows', String(row.id)), null);
});

test('ten users added to one project at once over two replicas, while it is renamed: all ten are members, and the new name stays', async (t) => {
  const [a, b] = await startReplicas(2);
  const project = await a.api.json('POST', '/api/projects', { name: 'fleet' }) as { id: number };
  const users: { id: number }[] = [];
  for (let i = 0; i < 10; i++) users.push(await a.api.json('POST', '/api/users', { username: `member${i}`, password: `member${i}-password` }));
  const [renamed, ...added] = await Promise.all([
    b.api.put(`/api/project/${project.id}`, { name: 'fleet-renamed' }),
    ...users.map((user, i) => (i % 2 ? a : b).api.post(`/api/project/${project.id}/users`, { user_id: user.id, role: i < 5 ? 'task_runner' : 'manager' })),
  ]);
  t.is(renamed!.status, 204);
  t.deepEqual(added.map((r) => r.status), Array<number>(10).fill(204));
  const members = await a.api.json('GET', `/api/project/${project.id}/users`) as { id: number; role: string }[];
  const roleOf = new Map(members.map((m) => [m.id, m.role]));
  t.deepEqual(users.map((u) => roleOf.get(u.id)), [...Array<string>(5).fill('task_runner'), ...Array<string>(5).fill('manager')]);
  t.is(roleOf.size, 11, 'the ten and the owner who made the project');
  t.is((await b.api.json('GET', `/api/project/${project.id}`) as { name: string }).name, 'fleet-renamed');

  // Removing every member but the owner at once, over both replicas: all go, and the owner stays.
  const removed = await Promise.all(users.map((user, i) => (i % 2 ? b : a).api.delete(`/api/project/${project.id}/users/${user.id}`)));
  t.deepEqual(removed.map((r) => r.status), Array<number>(10).fill(204));
  t.deepEqual((await b.api.json('GET', `/api/project/${project.id}/users`) as unknown[]).length, 1);
});

test('a user renamed, given a new name and e-mail and a new password at once, over two replicas: all four land', async (t) => {
  const [a, b] = await startReplicas(2);
  const users: { id: number }[] = [];
  for (let i = 0; i < 6; i++) users.push(await a.api.json('POST', '/api/users', { username: `ops${i}`, password: `old-password-${i}` }));
  const answers = await Promise.all(users.flatMap((user, i) => [
    a.api.put(`/api/users/${user.id}`, { username: `ops${i}-renamed` }),
    b.api.put(`/api/users/${user.id}`, { name: `Ops ${i}` }),
    a.api.put(`/api/users/${user.id}`, { email: `ops${i}@example.test` }),
    b.api.post(`/api/users/${user.id}/password`, { password: `new-password-${i}` }),
  ]));
  t.deepEqual(answers.map((r) => r.status), Array<number>(24).fill(204));
  const all = await b.api.json('GET', '/api/users') as { id: number; username: string; name: string; email: string }[];
  for (const [i, user] of users.entries()) {
    const stored = all.find((u) => u.id === user.id)!;
    t.deepEqual({ username: stored.username, name: stored.name, email: stored.email }, { username: `ops${i}-renamed`, name: `Ops ${i}`, email: `ops${i}@example.test` });
    const login = await b.api.anonymous().post('/api/auth/login', { auth: `ops${i}-renamed`, password: `new-password-${i}` });
    t.is(login.status, 204, `ops${i}: the new password landed beside the rename`);
  }
});

test('users renamed on one replica while deleted on the other: every user is gone, and both their old and new names are free', async (t) => {
  const [a, b] = await startReplicas(2);
  const users: { id: number }[] = [];
  for (let i = 0; i < 8; i++) users.push(await a.api.json('POST', '/api/users', { username: `temp${i}`, email: `temp${i}@example.test`, password: `temp-password-${i}` }));
  // Each replica has read every user (and keeps them in its record cache) before the race.
  for (const forge of [a, b]) for (const user of users) await forge.api.json('GET', `/api/users/${user.id}`);
  const answers = await Promise.all(users.flatMap((user, i) => [
    a.api.put(`/api/users/${user.id}`, { username: `temp${i}-renamed`, email: `temp${i}-renamed@example.test` }),
    b.api.delete(`/api/users/${user.id}`),
  ]));
  // A rename that came after the delete finds no user.
  t.deepEqual(answers.filter((_, i) => i % 2 === 0).filter((r) => ![204, 404].includes(r.status)).map((r) => r.status), []);
  t.deepEqual(answers.filter((_, i) => i % 2 === 1).map((r) => r.status), Array<number>(8).fill(204));
  const left = (await a.api.json('GET', '/api/users') as { id: number }[]).filter((u) => users.some((x) => x.id === u.id));
  t.deepEqual(left, []);
  for (let i = 0; i < users.length; i++) {
    for (const name of [`temp${i}`, `temp${i}-renamed`]) {
      const created = await b.api.post('/api/users', { username: name, email: `${name}@example.test`, password: 'another-password' });
      t.is(created.status, 201, `${name} is free again: ${JSON.stringify(created.body)}`);
    }
  }
});

test('a user and a project key each deleted on both replicas at once: one 204, one 404, one audit entry', async (t) => {
  const [a, b] = await startReplicas(2);
  const user = await a.api.json('POST', '/api/users', { username: 'twice', password: 'twice-password' }) as { id: number };
  const project = await a.api.json('POST', '/api/projects', { name: 'keys' }) as { id: number };
  const key = await a.api.json('POST', `/api/project/${project.id}/keys`, { name: 'deploy key', type: 'none' }) as { id: number };
  const paths = [`/api/users/${user.id}`, `/api/project/${project.id}/keys/${key.id}`];
  for (const forge of [a, b]) for (const path of paths) await forge.api.json('GET', path);
  for (const path of paths) {
    const answers = await Promise.all([a.api.delete(path), b.api.delete(path)]);
    t.deepEqual(answers.map((r) => r.status).sort(), [204, 404], path);
  }
  const events = await a.api.json('GET', `/api/project/${project.id}/events`) as { description: string }[];
  t.is(events.filter((e) => e.description === 'access key deploy key deleted').length, 1);
});
