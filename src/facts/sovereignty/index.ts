// sovereignty/: the derivation (facts.ts), the data it reads (data.ts), and the provider joining them.
export * from './facts.js';
export * from './data.js';
export * from './provider.js';
