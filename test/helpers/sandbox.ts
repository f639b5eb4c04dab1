/**
 * Talking to sandboxed tasks. A task sees none of the test's folders (its sandbox shows only its
 * own checkout) and its own PID namespace, so tests reach it over loopback TCP (the network is
 * shared) and find its processes on the host by a unique marker in their command line.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { onCleanup } from './util.js';

export interface Gate {
  port: number;
  /** Bash line that blocks until the gate opens. */
  wait: string;
  open(): void;
}

/** A loopback gate: `read` on it blocks in the task until the test calls open(). */
export async function startGate(): Promise<Gate> {
  const waiting = new Set<Socket>();
  let opened = false;
  const server = createServer((socket) => {
    socket.on('error', () => {});
    if (opened) socket.end('go\n');
    else waiting.add(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  onCleanup(() => new Promise<void>((resolve) => {
    for (const socket of waiting) socket.destroy();
    server.close(() => resolve());
  }));
  return {
    port,
    wait: `read -r _ < /dev/tcp/127.0.0.1/${port}`,
    open() {
      opened = true;
      for (const socket of waiting) socket.end('go\n');
      waiting.clear();
    },
  };
}

/** A number unique to this test run, to mark a task's processes: `sleep 300.<marker>`. */
export const uniqueMarker = () => String(100_000 + (randomBytes(4).readUInt32BE() % 900_000));

/** Host pids of live (non-zombie) processes whose command line contains `marker`. */
export function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (cmdline.includes(marker) && state !== 'Z' && state !== 'X') found.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

export interface Recorder {
  port: number;
  /** Bash line that sends one line (the shell words given) to the recorder. */
  send(words: string): string;
  /** The lines received so far. */
  lines(): string[];
}

/** A loopback recorder: a sandboxed task's side effects, visible to the test (one line per connection). */
export async function startRecorder(): Promise<Recorder> {
  const received: string[] = [];
  const server = createServer((socket) => {
    let text = '';
    socket.on('error', () => {});
    socket.on('data', (chunk) => (text += chunk.toString('utf8')));
    socket.on('end', () => {
      received.push(text.trim());
      socket.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port, send: (words) => `echo ${words} > /dev/tcp/127.0.0.1/${port}`, lines: () => [...received] };
}
