import { connect, type Socket } from 'node:net';

/** A MONITOR line's command: Redis's timestamp (seconds, as text), its arguments, and who ran it ("127.0.0.1:5000", or "lua" inside a script). */
export type MonitorListener = (time: string, args: string[], source: string) => void;

const LINE = /^\+(\d+\.\d+) \[\d+ ([^\]]*)\] (.*)$/;
const QUOTED = /"((?:[^"\\]|\\.)*)"/g;

/**
 * Redis MONITOR on a socket of its own, read line by line. ioredis's `monitor()` switches its
 * connection to monitor mode a microtask after MONITOR's OK, so on a busy server the first lines,
 * arriving in the same chunk as the OK, reach its command queue instead: "Command queue state
 * error", emitted where no listener can catch it in time. It ended a full bench run in the
 * dispatch phase (100 runners polling while the monitor started).
 */
export async function monitorRedis(url: string, listener: MonitorListener): Promise<{ stop(): void }> {
  const { hostname, port } = new URL(url);
  const socket: Socket = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.on('error', () => {}); // a stopped bench's Redis going away ends the feed, nothing else
  socket.setEncoding('utf8');
  let pending = '';
  let confirmed!: () => void;
  const started = new Promise<void>((resolve) => (confirmed = resolve));
  socket.on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\r\n');
    pending = lines.pop()!;
    for (const line of lines) {
      if (line === '+OK') confirmed();
      const parsed = LINE.exec(line);
      if (!parsed) continue;
      const args = [...parsed[3]!.matchAll(QUOTED)].map((m) => m[1]!.replace(/\\(["\\])/g, '$1'));
      listener(parsed[1]!, args, parsed[2]!);
    }
  });
  socket.write('MONITOR\r\n');
  await started;
  return { stop: () => socket.destroy() };
}
