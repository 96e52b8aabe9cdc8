// The dependency rules of src/ (README, Layout), checked in CI by `npm run lint:deps` and by
// test/layering.test.ts, which also checks README's layer order and refuses any import cycle between units.
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
      comment: 'cedar, files, quantity, templates, http and poll stand alone (but for operations/errors, which every unit may use).',
      from: { path: '^src/(policy/cedar|sources/files|kubernetes/quantity|policy/templates|sources/http|operations/errors|operations/poll)/' },
      to: { path: '^src/', pathNot: ['^src/$1/', '^src/operations/errors/'] },
    },
    {
      name: 'oci-builds-only-on-the-transport',
      severity: 'error',
      comment: 'The OCI client sends its requests over sources/http, and uses nothing else of Canopy but operations/errors.',
      from: { path: '^src/sources/oci/' },
      to: { path: '^src/', pathNot: ['^src/sources/(oci|http)/', '^src/operations/errors/'] },
    },
    {
      name: 'objects-build-only-on-image-references-and-quantities',
      severity: 'error',
      comment: 'kubernetes/objects builds only on sources/oci (image references), kubernetes/quantity and operations/errors.',
      from: { path: '^src/kubernetes/objects/' },
      to: { path: '^src/', pathNot: ['^src/(kubernetes/objects|kubernetes/quantity|sources/oci)/', '^src/operations/errors/'] },
    },
    {
      name: 'engine-knows-cedar-not-the-domains',
      severity: 'error',
      comment: 'The engine evaluates Cedar; policy/set composes a set from providers and mutations.',
      from: { path: '^src/policy/engine/' },
      to: { path: '^src/', pathNot: '^src/(policy/engine|policy/cedar|policy/templates|operations/errors)/' },
    },
    {
      name: 'providers-sit-below-translation-and-the-pipeline',
      severity: 'error',
      comment: 'A fact source reads Kubernetes objects and its data; the pipeline runs it and translation assembles what it derives.',
      from: { path: '^src/facts/(provider\\.ts|lookups\\.ts|declared/|sovereignty/|quota/|supply-chain/)' },
      to: { path: '^src/(policy/translate|pipeline|policy/set|policy/mutation|policy/decision|operations/decision-log|server|cli|sources/bundle|policy/tests|facts/fleet|operations/config)(/|$)' },
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
