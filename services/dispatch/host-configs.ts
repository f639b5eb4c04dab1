import type { HostConfig } from '../common/model.js';

/** The ssh host name of a git URL (`ssh://[user@]host[:port]/…` or scp-like `[user@]host:path`); '' for other URLs and local paths. */
export function sshHostOf(gitUrl: string): string {
  if (/^ssh:\/\//i.test(gitUrl)) {
    try {
      return new URL(gitUrl).hostname.replace(/^\[|\]$/g, '').toLowerCase();
    } catch {
      return '';
    }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(gitUrl)) return '';
  const scp = /^(?:[^@/]+@)?([^:/]+):/.exec(gitUrl);
  return scp ? scp[1]!.toLowerCase() : '';
}

/**
 * The host config that gives the key for a git URL: the `url` config with the longest prefix of
 * it, else a `host` config naming its ssh host.
 */
export function hostConfigFor(configs: HostConfig[], gitUrl: string): HostConfig | undefined {
  const byPrefix = configs.filter((c) => c.type === 'url' && gitUrl.startsWith(c.host)).sort((a, b) => b.host.length - a.host.length)[0];
  if (byPrefix) return byPrefix;
  const host = sshHostOf(gitUrl);
  return host ? configs.find((c) => c.type === 'host' && c.host.toLowerCase() === host) : undefined;
}
