// npm run schemas: writes policies/schemas/<key>.schema.json from the schemas the fact providers declare
// for their data files (src/facts/*/), so that editors complete and check policies/data/*.yaml. Runs on
// the built dist/ (npm run build first; `npm run schemas` does). test/data-schemas.test.ts fails while a
// checked-in schema differs from its declaration.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { schemaDocument } from '../dist/facts/schema-problems.js';
import { FACT_PROVIDERS } from '../dist/policy/set/index.js';

const dir = fileURLToPath(new URL('../policies/schemas/', import.meta.url));
mkdirSync(dir, { recursive: true });
for (const provider of FACT_PROVIDERS) {
  for (const [key, schema] of Object.entries(provider.dataSchemas)) {
    const file = path.join(dir, `${key}.schema.json`);
    writeFileSync(file, schemaDocument(schema));
    console.log(`wrote ${path.relative(process.cwd(), file)}`);
  }
}
