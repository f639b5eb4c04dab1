import { Command, Flags } from '@oclif/core';
import { saveToken } from '../../../workers/runner/config.js';
import { loadExistingRunnerConfig } from '../../runner-config.js';
import { StatusError } from '../../../protocol/peer.js';
import { HttpPeer } from '../../../workers/runner/http-peer.js';
import { clientFor } from '../../../workers/runner/runner.js';

export default class RunnerUnregister extends Command {
  static override description = 'Remove this runner from the server; its token stops working at once and is removed from the config (or token) file.';
  static override examples = ['<%= config.bin %> runner unregister --config /path/to/your/config/file.json'];
  static override flags = {
    config: Flags.string({ char: 'c', required: true, description: 'the runner config file' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(RunnerUnregister);
    const loaded = loadExistingRunnerConfig(this, flags.config);
    if (!loaded.token) this.error(`${flags.config} holds no runner token: nothing to unregister`, { exit: 1 });
    const client = clientFor(loaded);
    try {
      await new HttpPeer(client).unregister();
      this.log('Runner unregistered on the server.');
    } catch (err) {
      if (err instanceof StatusError && err.status === 401) this.log('The server no longer knows this token (already deleted); removing it locally.');
      else this.error(`unregister failed: ${err instanceof StatusError ? err.message : (err as Error).message}; the token was kept`, { exit: 1 });
    } finally {
      client.close();
    }
    const where = saveToken(loaded, '');
    this.log(`Token removed from ${where}.`);
  }
}
