import { Command, Flags } from '@oclif/core';
import { configFlag, serverConfig, withStores } from '../../server-context.js';

export default class TokenCreate extends Command {
  static override description = 'Create an API token for a user and print it once (use it as Authorization: Bearer <token>).';
  static override examples = ['<%= config.bin %> token create --login admin', 'curl -H "Authorization: Bearer $(<%= config.bin %> token create --login admin)" http://localhost:3000/api/projects'];
  static override flags = {
    config: configFlag,
    login: Flags.string({ required: true, description: 'the user the token acts as' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(TokenCreate);
    const token = await withStores(serverConfig(flags.config), async (stores) => {
      const user = (await stores.users.list()).find((u) => u.login.toLowerCase() === flags.login.toLowerCase());
      if (!user) throw new Error(`no user with login "${flags.login}"; add one with forge user add`);
      return (await stores.users.createApiToken(user.id)).token;
    }).catch((err: Error) => this.error(err.message, { exit: 1 }));
    this.log(token);
  }
}
