/**
 * The module rules of Forge (checked by test/lease-module-rules.test.ts with dependency-cruiser):
 * the runner side depends only on the shared protocol, and the protocol on nothing of either side.
 */
module.exports = {
  forbidden: [
    {
      name: 'workers-only-protocol',
      comment: 'workers/ (executor, agent loop, runner) imports only protocol/ and workers/: a runner ships without the server',
      severity: 'error',
      from: { path: '^workers/' },
      to: { path: '^(services|cli|web|test|bench)/' },
    },
    {
      name: 'protocol-stands-alone',
      comment: 'protocol/ is what both sides share: it imports nothing from services/, workers/ or cli/',
      severity: 'error',
      from: { path: '^protocol/' },
      to: { path: '^(services|workers|cli|web|test|bench)/' },
    },
    {
      name: 'no-circular-protocol',
      severity: 'error',
      from: { path: '^protocol/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
};
