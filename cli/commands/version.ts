import { Command } from '@oclif/core';
import { forgeVersion } from '../../protocol/version.js';

export default class Version extends Command {
  static override description = 'Print the Forge version.';
  static override examples = ['<%= config.bin %> version'];

  async run(): Promise<void> {
    this.log(forgeVersion());
  }
}
