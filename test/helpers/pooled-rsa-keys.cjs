// Test processes take their RSA 2048 keys from test/fixtures/rsa-keys/keys.pem instead of generating
// them: generating one costs about 0.3 s of CPU, and the suite needs about a hundred (its README).
// Installed by vitest.config.ts: in test threads as a setup file, in every Node process a test starts
// through NODE_OPTIONS (`canopy serve` makes its CA and serving certificate at start).
//
// Each key goes to one caller per run: a caller claims key N by creating the directory N under
// TEST_RSA_KEY_CLAIMS (mkdir is atomic across threads and processes), so two certificate
// authorities in one test never share a key. Past the last key, or outside a test run (no
// TEST_RSA_KEY_CLAIMS), keys are generated as usual. Only the key source changes: certificates,
// TLS and everything that checks them are real.
'use strict';
const crypto = require('node:crypto');
const { mkdirSync, readFileSync } = require('node:fs');
const path = require('node:path');
const { syncBuiltinESMExports } = require('node:module');

const INSTALLED = Symbol.for('canopy.test.pooledRsaKeys');
const claims = process.env.TEST_RSA_KEY_CLAIMS;

if (claims && !globalThis[INSTALLED]) {
  globalThis[INSTALLED] = true;
  const pem = readFileSync(path.join(__dirname, '..', 'fixtures', 'rsa-keys', 'keys.pem'), 'utf8');
  const pool = pem.match(/-----BEGIN PRIVATE KEY-----[^-]+-----END PRIVATE KEY-----\n/g) ?? [];
  let next = 0;

  /** The next key no one in this run has had, or undefined when the pool is spent. */
  const claim = () => {
    for (; next < pool.length; next++) {
      try {
        mkdirSync(path.join(claims, String(next)));
      } catch (error) {
        if (error.code === 'EEXIST') continue;
        throw error;
      }
      return crypto.createPrivateKey(pool[next++]);
    }
    return undefined;
  };

  /** A KeyObject as generateKeyPairSync returns it for these encoding options. */
  const encoded = (key, encoding) => (encoding ? key.export(encoding) : key);

  const generate = crypto.generateKeyPairSync;
  crypto.generateKeyPairSync = function generateKeyPairSync(type, options, ...rest) {
    const pooled = type === 'rsa' && options?.modulusLength === 2048 && options.publicExponent === undefined ? claim() : undefined;
    if (!pooled) return generate.call(this, type, options, ...rest);
    return {
      publicKey: encoded(crypto.createPublicKey(pooled), options.publicKeyEncoding),
      privateKey: encoded(pooled, options.privateKeyEncoding),
    };
  };
  // ES modules (the compiled sources, vitest's transformed ones) import node:crypto's named exports.
  syncBuiltinESMExports();
}
