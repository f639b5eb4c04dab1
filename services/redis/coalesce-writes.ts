import type { Socket } from 'node:net';
import { Cluster, type Redis } from 'ioredis';

/**
 * Commands issued in one tick leave in one socket write.
 *
 * ioredis writes every command to its socket as it is issued: one `write` system call each, which
 * on loopback TCP also runs the receiving side of the network stack. Under load one chunk of
 * replies resolves many waiting commands at once, and their continuations (other requests, other
 * tasks) issue their next commands in the same tick; the profiles had those writes as the server's
 * largest item. Corking the socket at a tick's first write and uncorking it in `process.nextTick`
 * (after the tick's promise continuations have run) sends them in one `writev`. Nothing waits for
 * it: unlike ioredis's auto-pipelining, which holds commands until `setImmediate`, the bytes leave
 * before the event loop moves on.
 */
export function coalesceWrites<T extends Redis | Cluster>(client: T): T {
  if (client instanceof Cluster) {
    // A Cluster's connections are Redis clients of their own, made as it learns the nodes.
    client.on('+node', (node: Redis) => coalesceWrites(node));
    return client;
  }
  // Each (re)connection has a socket of its own; ioredis announces it with 'connect'.
  client.on('connect', () => corkEachTick((client as unknown as { stream: Socket }).stream));
  return client;
}

const patched = new WeakSet<Socket>();

function corkEachTick(stream: Socket): void {
  if (patched.has(stream)) return;
  patched.add(stream);
  const write = stream.write;
  let corked = false;
  const flush = () => {
    corked = false;
    stream.uncork();
  };
  stream.write = function corkedWrite(this: Socket, ...args: Parameters<Socket['write']>) {
    if (!corked) {
      corked = true;
      stream.cork();
      process.nextTick(flush);
    }
    return write.apply(this, args);
  } as Socket['write'];
}
