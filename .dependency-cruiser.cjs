// The dependency rules of src/ (README, Layout), checked in CI by `npm run lint:deps` and by
// test/layering.test.ts, which also refuses any import cycle between top-level folders of src/.
// Type-only imports count: a type a folder cannot name without importing its caller is a layering
// problem too.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Modules must not import each other in a circle.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'leaves-import-no-canopy-code',
      severity: 'error',
      comment: 'cedar, files, quantity, template and oci stand alone (but for errors/, which every folder may use); kubernetes/ builds only on oci/ (image references).',
      from: { path: '^src/(cedar|files|quantity|template|oci|kubernetes|errors)/' },
      to: { path: '^src/', pathNot: ['^src/$1/', '^src/oci/', '^src/errors/'] },
    },
    {
      name: 'engine-knows-cedar-not-the-domains',
      severity: 'error',
      comment: 'The engine evaluates Cedar; policy-set/ composes a set from providers and mutations.',
      from: { path: '^src/engine/' },
      to: { path: '^src/', pathNot: '^src/(engine|cedar|template|errors)/' },
    },
    {
      name: 'providers-sit-below-translation-and-the-pipeline',
      severity: 'error',
      comment: 'A fact source reads Kubernetes objects and its data; the pipeline runs it and translation assembles what it derives.',
      from: { path: '^src/(facts|sovereignty|quota|supply-chain)/' },
      to: { path: '^src/(translate|pipeline|policy-set|mutation|decision|decision-log|server|cli|bundle|audit|impact|policy-tests|fleet|config)/' },
    },
    {
      name: 'only-the-cli-imports-the-cli',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.test\\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
