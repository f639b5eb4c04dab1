import { isIP } from 'node:net';

/**
 * The warning runner commands print when web_host is plain http:// to another machine, or
 * undefined. Jobs stay sealed, but the runner token, output and results would cross in clear.
 */
export function plainHttpWarning(webHost: string): string | undefined {
  let url: URL;
  try {
    url = new URL(webHost);
  } catch {
    return undefined; // the config validation reports a malformed address
  }
  if (url.protocol !== 'http:' || isLoopback(url.hostname)) return undefined;
  return `web_host ${url.origin} is plain HTTP to another machine: this runner's token, task output and results would cross the network unencrypted (job payloads stay sealed). ` +
    'Serve Forge over HTTPS (tls_cert_file and tls_key_file on the server, or a TLS proxy) and use an https:// web_host; for a private CA set runner.tls_ca_file.';
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '0:0:0:0:0:0:0:1';
}
