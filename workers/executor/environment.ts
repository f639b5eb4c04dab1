/** Variables of the server or runner process a task may see; everything else (FORGE_*, tokens, …) stays out. */
const ALLOWED = new Set(['PATH', 'LANG', 'TERM', 'TZ']);

function allowed(from: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(from)) {
    if (value !== undefined && (ALLOWED.has(key) || key.startsWith('LC_'))) env[key] = value;
  }
  env.PATH ??= '/usr/local/bin:/usr/bin:/bin';
  return env;
}

/** This process's allowed variables, taken once: the process's environment does not change while it runs tasks. */
let inherited: Record<string, string> | undefined;

/**
 * The base environment of every task process: an allow-list of this process's variables (PATH,
 * LANG, LC_*, TERM, TZ) with the task's own HOME and USER. The task's environment, extra vars
 * and secrets are added on top by the executor.
 */
export function baseEnvironment(home: string, user: string, from?: NodeJS.ProcessEnv): Record<string, string> {
  const base = from ? allowed(from) : (inherited ??= allowed(process.env));
  return { ...base, HOME: home, USER: user, LOGNAME: user };
}
