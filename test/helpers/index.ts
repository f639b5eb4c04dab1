/**
 * The shared test harness. Import from here:
 *
 *   import { startForge, makeBareRepo, setupTemplate, runTask, cleanup } from './helpers/index.js';
 *   test.after.always(cleanup);
 *
 * See README.md in this folder for what each part does.
 */
export * from './api.js';
export * from './build.js';
export * from './fixtures.js';
export * from './forge.js';
export * from './git.js';
export * from './openapi.js';
export * from './redis.js';
export * from './sse.js';
export * from './sshd.js';
export * from './util.js';
export * from './websocket.js';
