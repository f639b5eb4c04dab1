/**
 * Probe: what the runner agent spends between a long-poll answer's body arriving and having the
 * job in hand (HttpPeer.next returned: JSON parse, base64, sealed box opened, payload parsed).
 * A local HTTP server answers each POST with a job sealed to the probe's key, as the server does;
 * every other call waits `gap` ms first, so half the answers find the process idle, as a parked
 * runner is. Also times the three pieces alone after the same idle gap.
 *
 *   npx tsx bench/probe-agent-answer.ts [calls=400] [gap ms=30]
 */
import { subscribe } from 'node:diagnostics_channel';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateBoxKeyPair, open, seal } from '../protocol/sealed-box.js';
import { ForgeHttpClient } from '../workers/runner/http-client.js';
import { HttpPeer } from '../workers/runner/http-peer.js';
import { percentile } from './lib/stats.js';

const calls = Number(process.argv[2] ?? 400);
const gapMs = Number(process.argv[3] ?? 30);
const keys = generateBoxKeyPair();
// About the size of the bench task's payload (a bash template, no secrets).
const payload = JSON.stringify({ task: { id: 1, attempt: 1, project_id: 1 }, app: 'bash', playbook: 'run.sh', filler: 'x'.repeat(1500) });
const answer = () => JSON.stringify({ task_id: 1, attempt: 1, sealed_payload: seal(payload, keys.publicKey).toString('base64') });

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const body = answer();
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const client = new ForgeHttpClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: 'probe' });
const peer = new HttpPeer(client, keys);

let bodyEnd = 0;
subscribe('http.client.response.finish', (message) => {
  (message as { response: http.IncomingMessage }).response.once('end', () => (bodyEnd = performance.now()));
});
const us = (ms: number) => Math.round(ms * 1000);
const line = (name: string, samples: number[]) => `${name.padEnd(34)} p50 ${us(percentile(samples, 50))} µs, p90 ${us(percentile(samples, 90))} µs, p99 ${us(percentile(samples, 99))} µs`;

const toJob: number[] = [];
for (let i = 0; i < calls; i++) {
  if (i % 2) await sleep(gapMs);
  const job = await peer.next({ active: [], draining: false } as never, new AbortController().signal);
  if (!job) throw new Error('the probe server answered no job');
  toJob.push(performance.now() - bodyEnd);
}
const pieces = { parse: [] as number[], base64: [] as number[], open: [] as number[] };
for (let i = 0; i < calls / 2; i++) {
  const body = answer();
  await sleep(gapMs);
  let t = performance.now();
  const parsed = JSON.parse(body) as { sealed_payload: string };
  pieces.parse.push(performance.now() - t);
  t = performance.now();
  const box = Buffer.from(parsed.sealed_payload, 'base64');
  pieces.base64.push(performance.now() - t);
  t = performance.now();
  open(box, keys);
  pieces.open.push(performance.now() - t);
}
process.stdout.write([
  `${calls} answers of ${answer().length} bytes; half after ${gapMs} ms idle`,
  line('body end → HttpPeer.next returned', toJob),
  line(`answer JSON.parse (after idle)`, pieces.parse),
  line(`base64 decode (after idle)`, pieces.base64),
  line(`sealed box open (after idle)`, pieces.open),
].join('\n') + '\n');
client.close();
server.close();
