/**
 * Checks answers against Forge's own OpenAPI description (GET /api/openapi.json) with Ajv
 * (JSON Schema 2020-12, as OpenAPI 3.1 uses). Operations are looked up by method and path with
 * the parameter names blanked, so Semaphore's /users/{user_id}/ finds Forge's /api/users/{user_id}.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ApiClient, ApiResponse } from './api.js';

interface Operation { responses: Record<string, { content?: Record<string, { schema: object }> }>; 'x-undocumented'?: boolean }
export interface OpenApiDocument { openapi: string; paths: Record<string, Record<string, Operation>> }

export const normalPath = (path: string) => path.replace(/\?.*$/, '').replace(/\{\w+\}|:\w+/g, '{}').replace(/(.)\/$/, '$1');

export class OpenApiChecker {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly byKey = new Map<string, Operation>();
  /** Concrete paths (/api/project/5/tasks/last): literal segments win over parameters. */
  private readonly patterns: Array<{ method: string; regex: RegExp; params: number; operation: Operation }> = [];

  constructor(readonly document: OpenApiDocument) {
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        this.byKey.set(`${method.toUpperCase()} ${normalPath(path)}`, operation);
        const regex = new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{\w+\}/g, '[^/]+')}/?$`);
        this.patterns.push({ method: method.toUpperCase(), regex, params: (path.match(/\{/g) ?? []).length, operation });
      }
    }
    this.patterns.sort((a, b) => a.params - b.params);
  }

  static async load(api: ApiClient): Promise<OpenApiChecker> {
    return new OpenApiChecker(await api.json<OpenApiDocument>('GET', '/api/openapi.json'));
  }

  operation(method: string, path: string): Operation | undefined {
    const bare = path.replace(/\?.*$/, '');
    return this.byKey.get(`${method} ${normalPath(bare)}`) ?? this.patterns.find((p) => p.method === method && p.regex.test(bare))?.operation;
  }

  /** Problems with an answer: an undocumented operation or status, or a JSON body the schema refuses. */
  problems(method: string, path: string, response: ApiResponse): string[] {
    const operation = this.operation(method, path);
    if (!operation) return [`${method} ${path} is not in the OpenAPI description`];
    const documented = operation.responses[String(response.status)] ?? (response.status >= 400 ? operation.responses['4XX'] : undefined);
    if (!documented) return [`${method} ${path}: status ${response.status} is not documented (${Object.keys(operation.responses).join(', ')})`];
    const schema = documented.content?.['application/json']?.schema;
    if (!schema) return [];
    const validate = this.ajv.compile(schema);
    return validate(response.body) ? [] : [`${method} ${path}: ${this.ajv.errorsText(validate.errors)}`];
  }
}
