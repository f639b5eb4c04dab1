import { Command, Flags } from '@oclif/core';
import { startServer } from '../../services/server.js';
import { configFlag, serverConfig } from '../server-context.js';

export default class Server extends Command {
  static override description = 'Start the Forge server: API, web UI, runner gateway, reconciler and (without remote runners) the local worker. With no redis_url it starts its own redis-server under data_dir.';
  static override examples = [
    '<%= config.bin %> server',
    '<%= config.bin %> server --config /etc/forge/config.json',
    'FORGE_PORT=8080 FORGE_USE_REMOTE_RUNNER=true FORGE_RUNNER_REGISTRATION_TOKEN=$(openssl rand -hex 32) <%= config.bin %> server',
  ];
  static override flags = {
    config: configFlag,
    port: Flags.integer({ char: 'p', description: 'port to listen on (overrides config and FORGE_PORT)' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Server);
    const config = serverConfig(flags.config);
    if (flags.port !== undefined) config.port = flags.port;
    const server = await startServer(config);
    this.log(`Forge ${server.ctx.version} is running at ${config.web_host}`);
    if (server.initialAdminPassword) {
      this.log(`First start: log in as "admin" with password ${server.initialAdminPassword}`);
      this.log(`(also saved to ${config.data_dir}/initial_admin_password; change it, or set FORGE_ADMIN_LOGIN/FORGE_ADMIN_PASSWORD)`);
    } else if (config.admin_login) {
      this.log(`Log in as "${config.admin_login}" with the password from FORGE_ADMIN_PASSWORD`);
    }
    const stop = async (signal: string) => {
      this.log(`${signal}: stopping Forge (running local tasks get up to 10 s to finish)`);
      await server.close();
      process.exit(0);
    };
    process.once('SIGINT', () => void stop('SIGINT'));
    process.once('SIGTERM', () => void stop('SIGTERM'));
    // The terminal closing is a stop too (by default SIGHUP would end Forge without stopping its Redis).
    process.once('SIGHUP', () => void stop('SIGHUP'));
    await new Promise(() => {});
  }
}
