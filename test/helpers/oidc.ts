import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import { onCleanup } from './util.js';

export interface OidcAccount { sub: string; email?: string; email_verified?: boolean; preferred_username?: string; nickname?: string; name?: string }

export interface OidcProvider {
  /** The issuer URL (provider_url in Forge's config). */
  issuer: string;
  /** Registers the client Forge logs in as (call once Forge's address, hence its redirect URL, is known). */
  registerClient(client: { client_id: string; client_secret: string; redirect_uris: string[] }): void;
  /** The account the next login at the provider signs in as. */
  signInAs(account: OidcAccount): void;
  stop(): Promise<void>;
}

/**
 * A real OpenID provider (the certified `oidc-provider` package) on a free loopback port. Its
 * login and consent pages are answered at once for the account given to signInAs, so a test
 * only follows redirects.
 */
export async function startOidcProvider(): Promise<OidcProvider> {
  let provider: any;
  let account: OidcAccount | undefined;
  const server = createServer((req, res) => {
    if (!provider) {
      res.writeHead(503).end('no client registered yet');
      return;
    }
    if (req.url?.startsWith('/interaction/')) {
      interact(req, res).catch((err) => res.writeHead(500).end(String(err)));
      return;
    }
    provider.callback()(req, res);
  });
  const interact = async (req: IncomingMessage, res: ServerResponse) => {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === 'login') {
      if (!account) throw new Error('signInAs() was not called');
      await provider.interactionFinished(req, res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false });
      return;
    }
    const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope);
    await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const accounts = new Map<string, OidcAccount>();
  const stop = () => new Promise<void>((resolve) => server.close(() => resolve()));
  onCleanup(stop);
  return {
    issuer,
    registerClient(client) {
      provider = new Provider(issuer, {
        clients: [{ ...client, grant_types: ['authorization_code'], response_types: ['code'] }],
        cookies: { keys: ['forge-test-cookie-key'] },
        // Explicit lifetimes: without them the provider prints a notice per artifact kind into the suite's output.
        ttl: { Session: 3600, Grant: 3600, Interaction: 600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
        claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username', 'nickname'] },
        findAccount: (_ctx: unknown, sub: string) => {
          const found = accounts.get(sub);
          return found && { accountId: sub, claims: () => found };
        },
      });
    },
    signInAs(next) {
      account = next;
      accounts.set(next.sub, next);
    },
    stop,
  };
}

/** A minimal cookie jar for a browser walking through redirects: name=value, paths ignored. */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const at = pair!.indexOf('=');
      const name = pair!.slice(0, at).trim();
      const value = pair!.slice(at + 1).trim();
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  get(name: string): string | undefined {
    return this.cookies.get(name);
  }

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** GET without following redirects, keeping the cookies the answer sets. */
  async fetch(url: string): Promise<Response> {
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: this.header() } });
    this.take(res);
    return res;
  }
}

/**
 * Walks a browser through the provider from its authorization URL until the provider sends it
 * back to `until` (Forge's callback): answers that callback URL, without requesting it.
 */
export async function walkProvider(authorizationUrl: string, until: string, jar = new CookieJar()): Promise<string> {
  let url = authorizationUrl;
  for (let hops = 0; hops < 20; hops++) {
    if (url.startsWith(until)) return url;
    const res = await jar.fetch(url);
    const location = res.headers.get('location');
    if (!location) throw new Error(`the provider stopped at ${url} with ${res.status}: ${(await res.text()).replace(/<style>[^]*<\/style>/, "").slice(0, 1500)}`);
    url = new URL(location, url).href;
  }
  throw new Error(`more than 20 redirects from ${authorizationUrl}`);
}

/**
 * A browser's OIDC login at Forge, walked through the provider and stopped just before Forge's
 * callback: the browser's cookies (with Forge's state cookie), where Forge sent it, and the
 * callback URL the provider sends it back to.
 */
export async function oidcLoginUntilCallback(forgeUrl: string, providerId: string, callbackUrl: string, query = '') {
  const jar = new CookieJar();
  const res = await jar.fetch(`${forgeUrl}/api/auth/oidc/${providerId}/login${query}`);
  if (res.status !== 302) throw new Error(`login answered ${res.status}: ${await res.text()}`);
  const authorizationUrl = res.headers.get('location')!;
  return { jar, authorizationUrl, callback: await walkProvider(authorizationUrl, callbackUrl) };
}
