/** A small leveled logger to stderr. Callers pass no secrets; `redact` guards the few places that could. */
const levels = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof levels;

let threshold: number = levels[(process.env.FORGE_LOG_LEVEL as LogLevel) ?? 'info'] ?? levels.info;

export function setLogLevel(level: LogLevel): void {
  threshold = levels[level];
}

function write(level: LogLevel, scope: string, message: string, fields?: Record<string, unknown>): void {
  if (levels[level] < threshold) return;
  const extra = fields ? ' ' + JSON.stringify(fields) : '';
  process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} [${scope}] ${message}${extra}\n`);
}

export function logger(scope: string) {
  return {
    debug: (msg: string, fields?: Record<string, unknown>) => write('debug', scope, msg, fields),
    info: (msg: string, fields?: Record<string, unknown>) => write('info', scope, msg, fields),
    warn: (msg: string, fields?: Record<string, unknown>) => write('warn', scope, msg, fields),
    error: (msg: string, fields?: Record<string, unknown>) => write('error', scope, msg, fields),
  };
}
export type Logger = ReturnType<typeof logger>;
