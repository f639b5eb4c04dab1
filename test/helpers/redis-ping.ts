/** A dependency-free Redis liveness probe, shared by the test harness and the benchmark. */
import { connect } from 'node:net';

/** Answers true once a Redis at the address replies +PONG. */
export function redisPing(address: { port?: number; socket?: string }): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = address.socket ? connect(address.socket) : connect(address.port!, '127.0.0.1');
    let data = '';
    const done = (ok: boolean) => {
      conn.destroy();
      resolve(ok);
    };
    conn.setTimeout(1000, () => done(false));
    conn.once('error', () => done(false));
    conn.on('data', (chunk) => {
      data += chunk.toString();
      if (data.includes('\r\n')) done(data.startsWith('+PONG'));
    });
    conn.write('PING\r\n');
  });
}
