import { Command, Flags } from '@oclif/core';
import { loadRunnerConfig } from '../../../workers/runner/config.js';
import { startRunner } from '../../../workers/runner/runner.js';
import { plainHttpWarning } from '../../plain-http.js';

export default class RunnerStart extends Command {
  static override description = 'Start the runner: connect to the server, signal readiness, run tasks up to runner.max_parallel_tasks at once. SIGTERM or Ctrl-C drains: no new tasks, running ones finish (up to runner.drain_timeout_sec), results are reported, then it exits.';
  static override examples = [
    '<%= config.bin %> runner start --config /path/to/your/config/file.json',
    'FORGE_WEB_HOST=https://forge.example.com FORGE_RUNNER_TOKEN=... FORGE_RUNNER_TAGS=linux <%= config.bin %> runner start',
  ];
  static override flags = {
    config: Flags.string({ char: 'c', description: 'the runner config file; without it, settings come from FORGE_* variables' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(RunnerStart);
    let runner;
    try {
      const loaded = loadRunnerConfig(flags.config, process.env, { mustExist: Boolean(flags.config) });
      const insecure = plainHttpWarning(loaded.config.web_host);
      if (insecure) this.warn(insecure);
      runner = await startRunner(loaded);
    } catch (err) {
      this.error((err as Error).message, { exit: 1 });
    }
    this.log(`Runner "${runner.hello.name}" is ready and waiting for tasks.`);
    let signals = 0;
    const onSignal = (signal: string) => {
      signals++;
      if (signals > 1) process.exit(130);
      this.log(`${signal}: draining — no new tasks; running ones finish, then the runner exits (signal again to quit now)`);
      void runner.drain();
    };
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    process.on('SIGINT', () => onSignal('SIGINT'));
    await runner.done;
    this.log('Runner stopped.');
    process.exit(0);
  }
}
