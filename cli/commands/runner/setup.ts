import { existsSync, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { Command, Flags } from '@oclif/core';
import { plainHttpWarning } from '../../plain-http.js';
import { editJsonFile, loadRunnerConfig, runnerConfigSchema, saveToken } from '../../../workers/runner/config.js';
import { parseOrThrow } from '../../../protocol/validation.js';
import { Prompter } from '../../prompt.js';

export default class RunnerSetup extends Command {
  static override description = 'Create a runner config file by answering a few questions (or from flags, with --non-interactive). Register the runner afterwards with `forge runner register` unless you already have a runner token.';
  static override examples = [
    '<%= config.bin %> runner setup --config /etc/forge/runner.json',
    '<%= config.bin %> runner setup --config ./runner.json --non-interactive --web-host https://forge.example.com --token "$RUNNER_TOKEN" --tags linux,docker',
    'printf "https://forge.example.com\\nn\\n\\n\\nbuild-01\\nlinux\\n2\\n" | <%= config.bin %> runner setup --config ./runner.json',
  ];
  static override flags = {
    config: Flags.string({ char: 'c', required: true, description: 'the config file to write' }),
    'non-interactive': Flags.boolean({ default: false, description: 'ask nothing; take every answer from flags and defaults' }),
    'web-host': Flags.string({ description: 'the Forge server address, e.g. https://forge.example.com' }),
    token: Flags.string({ description: 'a runner token from the web UI or API (skip registration)' }),
    'token-file': Flags.string({ description: 'keep the token in this file instead of in the config file' }),
    'private-key-file': Flags.string({ description: 'where the runner keeps its private key (default: next to the config file)' }),
    name: Flags.string({ description: 'runner name (default: this host name)' }),
    tags: Flags.string({ description: 'comma-separated runner tags' }),
    'max-parallel-tasks': Flags.integer({ description: 'how many tasks this runner runs at once (default 1)' }),
    'tmp-path': Flags.string({ description: 'where tasks check out and run (default /tmp/forge)' }),
    webhook: Flags.string({ description: 'URL called on task start and finish' }),
    'one-off': Flags.boolean({ description: 'exit after one task' }),
    'tls-ca-file': Flags.string({ description: 'CA certificate (PEM) that signed the server\'s certificate' }),
    force: Flags.boolean({ default: false, description: 'overwrite an existing config file' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(RunnerSetup);
    const path = resolve(flags.config);
    if (existsSync(path) && !flags.force && flags['non-interactive']) this.error(`${path} exists already; edit it by hand, or pass --force to overwrite it`, { exit: 2 });
    const interactive = !flags['non-interactive'];
    const prompt = interactive ? new Prompter() : undefined;
    const ask = (question: string, flag: string | number | undefined, fallback: string) =>
      flag !== undefined ? Promise.resolve(String(flag)) : prompt ? prompt.ask(question, fallback) : Promise.resolve(fallback);
    try {
      if (prompt && existsSync(path) && !flags.force && !(await prompt.confirm(`${path} exists. Overwrite it`, false))) this.exit(1);
      const webHost = await ask('Forge server address (web_host)', flags['web-host'], 'http://localhost:3000');
      const insecure = plainHttpWarning(webHost);
      if (insecure) this.warn(insecure);
      const hasToken = flags.token !== undefined ? true : prompt ? await prompt.confirm('Do you have a runner token (from the web UI or API)', false) : false;
      const token = hasToken ? await ask('Runner token', flags.token, '') : '';
      const tokenFile = await ask('Keep the token in a separate file? Path, or empty to keep it in the config file', flags['token-file'], '');
      const keyFile = await ask('Private key file', flags['private-key-file'], `${path.replace(/\.jsonc?$/, '')}.key`);
      const name = await ask('Runner name', flags.name, hostname());
      const tags = await ask('Runner tags, comma-separated (empty for none)', flags.tags, '');
      const maxParallel = await ask('Max parallel tasks', flags['max-parallel-tasks'], '1');
      const runner: Record<string, unknown> = {
        ...(tokenFile ? { token_file: tokenFile } : { token }),
        private_key_file: keyFile, name, tags: tags.split(',').map((t) => t.trim()).filter(Boolean), max_parallel_tasks: Number(maxParallel),
        ...(flags.webhook ? { webhook: flags.webhook } : {}),
        ...(flags['one-off'] ? { one_off: true } : {}),
        ...(flags['tls-ca-file'] ? { tls_ca_file: flags['tls-ca-file'] } : {}),
      };
      const config = { tmp_path: flags['tmp-path'] ?? '/tmp/forge', web_host: webHost, runner };
      try {
        parseOrThrow(runnerConfigSchema, config, 'config');
      } catch (err) {
        this.error(`${(err as Error).message}\nNothing was written; run setup again with a corrected answer.`, { exit: 2 });
      }
      mkdirSync(dirname(path), { recursive: true });
      editJsonFile(path, [], config);
      if (tokenFile && token) {
        saveToken(loadRunnerConfig(path), token);
      }
      this.log(`Wrote ${path}`);
      this.log(token
        ? `Start the runner with: forge runner start --config ${flags.config}`
        : `Next, register the runner: forge runner register --config ${flags.config}\n  (or: echo REGISTRATION_TOKEN | forge runner register --stdin-registration-token --config ${flags.config})`);
    } finally {
      prompt?.close();
    }
  }
}
