import { Command, Flags } from '@oclif/core';
import { saveToken } from '../../../workers/runner/config.js';
import { loadExistingRunnerConfig } from '../../runner-config.js';
import { StatusError } from '../../../protocol/peer.js';
import { HttpPeer } from '../../../workers/runner/http-peer.js';
import { plainHttpWarning } from '../../plain-http.js';
import { createKeyPair } from '../../../workers/runner/keys.js';
import { clientFor } from '../../../workers/runner/runner.js';
import { Prompter, readAllStdin } from '../../prompt.js';

export default class RunnerRegister extends Command {
  static override description = 'Register this runner with the server using its registration token: generates the runner\'s key pair, sends only the public key, and stores the returned runner token in runner.token (or runner.token_file). Registering again replaces the token.';
  static override examples = [
    '<%= config.bin %> runner register --config /path/to/your/config/file.json',
    'echo REGISTRATION_TOKEN | <%= config.bin %> runner register --stdin-registration-token --config /path/to/your/config/file.json',
  ];
  static override flags = {
    config: Flags.string({ char: 'c', required: true, description: 'the runner config file (see forge runner setup)' }),
    'stdin-registration-token': Flags.boolean({ default: false, description: 'read the registration token from standard input' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(RunnerRegister);
    const loaded = loadExistingRunnerConfig(this, flags.config);
    const insecure = plainHttpWarning(loaded.config.web_host);
    if (insecure) this.warn(insecure);
    let registrationToken = process.env.FORGE_RUNNER_REGISTRATION_TOKEN ?? '';
    if (flags['stdin-registration-token']) registrationToken = (await readAllStdin()).trim();
    else if (!registrationToken) {
      const prompt = new Prompter();
      registrationToken = await prompt.ask('Registration token (runner_registration_token of the server)');
      prompt.close();
    }
    if (!registrationToken) this.error('no registration token given: pipe it with --stdin-registration-token or type it at the prompt', { exit: 2 });

    const keys = createKeyPair(loaded.privateKeyFile);
    const { runner } = loaded.config;
    const client = clientFor(loaded, '');
    try {
      const body = await new HttpPeer(client).register({
        registration_token: registrationToken, name: runner.name, tags: runner.tags, max_parallel_tasks: runner.max_parallel_tasks,
        webhook: runner.webhook, public_key: keys.publicKey.toString('base64'),
        ...(runner.project_id ? { project_id: runner.project_id } : {}),
        ...(loaded.token ? { replaces_token: loaded.token } : {}),
      });
      const where = saveToken(loaded, body.token);
      this.log(`Runner "${runner.name}" registered (id ${body.id}); token saved in ${where}.`);
      this.log(`Start it with: forge runner start --config ${flags.config}`);
    } catch (err) {
      const message = err instanceof StatusError ? err.message : `cannot reach ${loaded.config.web_host}: ${(err as Error).message}`;
      this.error(`registration failed: ${message}`, { exit: 1 });
    } finally {
      client.close();
    }
  }
}
