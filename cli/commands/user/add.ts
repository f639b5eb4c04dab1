import { Command, Flags } from '@oclif/core';
import { userInput } from '../../../services/common/model.js';
import { parseOrThrow } from '../../../protocol/validation.js';
import { readAllStdin } from '../../prompt.js';
import { configFlag, serverConfig, withStores } from '../../server-context.js';

export default class UserAdd extends Command {
  static override description = 'Add a user (an admin with --admin) directly in the server\'s Redis.';
  static override examples = [
    '<%= config.bin %> user add --login alice --password "s3cret-pass" --email alice@example.com --admin',
    'echo "s3cret-pass" | <%= config.bin %> user add --login bob --password-stdin',
  ];
  static override flags = {
    config: configFlag,
    login: Flags.string({ required: true, description: 'login name' }),
    password: Flags.string({ description: 'password (at least 8 characters); prefer --password-stdin' }),
    'password-stdin': Flags.boolean({ description: 'read the password from standard input' }),
    email: Flags.string({ default: '', description: 'e-mail address' }),
    name: Flags.string({ default: '', description: 'display name' }),
    admin: Flags.boolean({ default: false, description: 'make the user an admin' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(UserAdd);
    let password = flags.password;
    if (flags['password-stdin']) password = (await readAllStdin()).trim();
    if (!password) this.error('give the password with --password or --password-stdin', { exit: 2 });
    let input;
    try {
      input = parseOrThrow(userInput, { login: flags.login, password, email: flags.email, name: flags.name, admin: flags.admin });
    } catch (err) {
      this.error((err as Error).message, { exit: 2 });
    }
    const user = await withStores(serverConfig(flags.config), (stores) => stores.users.create({ ...input, login: input.username })).catch((err: Error) => this.error(err.message, { exit: 1 }));
    this.log(`user "${user.login}" added (id ${user.id}${user.admin ? ', admin' : ''})`);
  }
}
