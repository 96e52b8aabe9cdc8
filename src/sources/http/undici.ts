// undici takes some 60 ms to import, and most canopy commands (validate, test, fmt, eval, --help) never
// send a request; yet image references, which every command reads, live beside the OCI client. So it is
// loaded the first time a transport connects, through require (undici is CommonJS), which keeps opening
// a connection a plain call. Types are imported as types only.
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

let loaded: typeof Undici | undefined;

/** The undici module, loaded on first use. */
export function undici(): typeof Undici {
  loaded ??= createRequire(import.meta.url)('undici') as typeof Undici;
  return loaded;
}
