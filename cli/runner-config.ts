import type { Command } from '@oclif/core';
import { loadRunnerConfig, type LoadedRunnerConfig } from '../workers/runner/config.js';

/** The runner config file a command was pointed at; a missing or invalid file ends the command (exit 2). */
export function loadExistingRunnerConfig(command: Command, path: string): LoadedRunnerConfig {
  try {
    return loadRunnerConfig(path, process.env, { mustExist: true });
  } catch (err) {
    return command.error((err as Error).message, { exit: 2 });
  }
}
