import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../api/http.js';
import type { Runner } from '../store/runners.js';

/** One runner request, its token and body checked already. */
export interface RunnerCall {
  req: IncomingMessage;
  res: ServerResponse;
  /** The runner its X-Runner-Token names (registration, the one route without a token, has none). */
  runner: Runner;
  /** The parsed JSON body (undefined when none was sent; the route's schema refuses it then). */
  body: unknown;
  /** Path parameters by name, URL-decoded. */
  params: Record<string, string>;
}

export interface RunnerRoute {
  method: 'POST' | 'DELETE';
  /** Relative to the protocol's root, Express-style (`/jobs/:task_id/result`): what the OpenAPI description lists. */
  path: string;
  /** Registration only: the route takes no runner token. */
  withoutToken?: boolean;
  handle(call: RunnerCall): Promise<void>;
}

interface CompiledRoute { route: RunnerRoute; pattern: RegExp; names: string[] }

/**
 * Method + path → route, matched as the Express router did: case-insensitive, a trailing slash
 * allowed, parameters URL-decoded (400 naming the one that is not).
 */
export class RouteTable {
  private readonly compiled: CompiledRoute[];

  constructor(readonly routes: RunnerRoute[]) {
    this.compiled = routes.map((route) => {
      const names: string[] = [];
      const source = route.path.replace(/\/$/, '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:(\w+)/g, (_, name: string) => {
        names.push(name);
        return '([^/]+?)';
      });
      return { route, pattern: new RegExp(`^${source}/?$`, 'i'), names };
    });
  }

  match(method: string | undefined, path: string): { route: RunnerRoute; params: Record<string, string> } | undefined {
    for (const { route, pattern, names } of this.compiled) {
      if (route.method !== method) continue;
      const found = pattern.exec(path);
      if (!found) continue;
      const params: Record<string, string> = {};
      names.forEach((name, index) => (params[name] = decodeParam(found[index + 1]!)));
      return { route, params };
    }
    return undefined;
  }
}

function decodeParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, `Failed to decode param '${raw}'`);
  }
}
