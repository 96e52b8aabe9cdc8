// `npm run lint` (CI runs it): typescript-eslint, type-aware (tsconfig.test.json), on src/ and test/, for
// what the compiler does not catch. A promise nobody awaits or handles (no-floating-promises,
// no-misused-promises) loses its errors; a switch over a union that misses a member
// (switch-exhaustiveness-check) silently does nothing for it.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'bench/', 'load/', 'charts/', 'webhooks/', 'examples/', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  {
    files: ['src/**/*.ts', 'test/**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Not even `void promise`: work nobody awaits is started with inBackground (src/operations/errors), which
      // says where its failure is reported.
      '@typescript-eslint/no-floating-promises': ['error', { ignoreVoid: false }],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
);
