// `canopy bundle build|sign|verify|inspect|serve|push`
import { readFile, writeFile } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { buildBundle, createBundleStore, inspectBundle, parseOciUrl, parseSelectorText, pushBundle, readPublicKeys, signBundle, verifyBundle, type ClusterSelector } from '../../sources/bundle/index.js';
import { EXIT, say } from '../output.js';
import { inBackground, messageOf } from '../../operations/errors/index.js';

/** 127.0.0.0/8, ::1 and localhost: only this host can connect. */
function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host) || /^::ffff:127\./.test(host);
}

/** `channel prod, clusters {"matchLabels":{"region":"eu"}}` */
function describeAudience(audience: { channel?: string; clusters?: ClusterSelector }): string {
  return [audience.channel ? `channel ${audience.channel}` : 'no channel', ...(audience.clusters ? [`clusters ${JSON.stringify(audience.clusters)}`] : [])].join(', ');
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/**
 * Runs a bundle command; whatever fails (a file, a key, a registry, the policies) is reported as one
 * line and exit 1. CANOPY_DEBUG=1 adds the stack.
 */
async function guarded(what: string, action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (error) {
    const message = messageOf(error);
    process.stderr.write(`canopy bundle ${what}: ${message}\n`);
    if (process.env['CANOPY_DEBUG'] && error instanceof Error) process.stderr.write(`${error.stack ?? ''}\n`);
    process.exitCode = EXIT.invalid;
  }
}

export function registerBundle(program: Command): void {
  const bundle = program.command('bundle').description('build, sign, verify, inspect, serve and push signed policy bundles');

  bundle
    .command('build')
    .description('build a bundle from a policy directory (refused if the policies do not validate)')
    .argument('<dir>', 'the policy directory')
    .requiredOption('-o, --output <file>', 'the bundle to write (.tar.gz)')
    .option('--revision <revision>', 'the revision to record (default: the content hash)')
    .option('--commit <sha>', 'the source commit to record')
    .option('--channel <channel>', 'the channel it is for (prod): only webhooks with that bundle.channel take it')
    .option('--cluster-selector <selector>', 'only clusters matching this: key=value,... (name, region, jurisdiction, environment, provider, or a cluster label) or a selector as YAML {matchLabels, matchExpressions}')
    .option('--allow-empty', 'the set may have no validating policies (webhooks refuse an empty set otherwise)', false)
    .option('--allow-canary-denials', "the set may deny the webhooks' canary requests (they refuse it otherwise)", false)
    .action((dir: string, options: { output: string; revision?: string; commit?: string; channel?: string; clusterSelector?: string; allowEmpty: boolean; allowCanaryDenials: boolean }) =>
      guarded('build', async () => {
        const clusters: ClusterSelector | undefined = options.clusterSelector ? parseSelectorText(options.clusterSelector, (text) => parseYaml(text) as unknown) : undefined;
        const audience = { ...(options.channel ? { channel: options.channel } : {}), ...(clusters ? { clusters } : {}) };
        const built = await buildBundle(dir, {
          ...(options.revision ? { revision: options.revision } : {}),
          ...(options.commit ? { sourceCommit: options.commit } : {}),
          ...(options.channel || clusters ? { audience } : {}),
          ...(options.allowEmpty ? { allowEmpty: true } : {}),
          ...(options.allowCanaryDenials ? { allowCanaryDenials: true } : {}),
        });
        await writeFile(options.output, built.bytes);
        const tests = built.manifest.files.filter((f) => /\.test\.ya?ml$/.test(f.path)).length;
        const forWhom = built.manifest.audience ? `, for ${describeAudience(built.manifest.audience)}` : ', for webhooks without a channel';
        say(`built ${options.output}: revision ${built.manifest.revision}, ${built.manifest.files.length} files (${tests} test files)${forWhom}, unsigned`);
      }),
    );

  bundle
    .command('sign')
    .description('sign a bundle with a private key (PEM, Ed25519 or ECDSA P-256)')
    .argument('<file>', 'the bundle')
    .requiredOption('--key <file>', 'the private key (PEM)')
    .option('-o, --output <file>', 'where to write the signed bundle (default: in place)')
    .action((file: string, options: { key: string; output?: string }) =>
      guarded('sign', async () => {
        const signed = await signBundle(await readFile(file), await readFile(options.key, 'utf8'));
        await writeFile(options.output ?? file, signed.bytes);
        say(`signed ${options.output ?? file} with key ${signed.keyId}`);
      }),
    );

  bundle
    .command('verify')
    .description('verify a bundle: its signature by a trusted key and every file (exit 0 valid, 1 not)')
    .argument('<file>', 'the bundle')
    .requiredOption('--pub <file>', 'a trusted public key (PEM; repeatable)', collect)
    .action((file: string, options: { pub: string[] }) =>
      guarded('verify', async () => {
        const keys = readPublicKeys(await Promise.all(options.pub.map((p) => readFile(p, 'utf8'))));
        const verified = await verifyBundle(await readFile(file), keys);
        process.stdout.write(`${file}: valid, revision ${verified.manifest.revision}, signed by key ${verified.keyId}, ${verified.files.size} files\n`);
      }),
    );

  bundle
    .command('inspect')
    .description('show what a bundle holds, without trusting it')
    .argument('<file>', 'the bundle')
    .action((file: string) =>
      guarded('inspect', async () => {
        const { manifest, signature, names } = await inspectBundle(await readFile(file));
        const lines = [
          `revision:  ${manifest.revision}`,
          `created:   ${manifest.createdAt}`,
          ...(manifest.sourceCommit ? [`commit:    ${manifest.sourceCommit}`] : []),
          `audience:  ${manifest.audience ? describeAudience(manifest.audience) : 'webhooks without a channel'}`,
          ...(manifest.allowEmpty ? ['allows:    an empty set'] : []),
          ...(manifest.allowCanaryDenials ? ['allows:    denying canary requests'] : []),
          `signature: ${signature ? `key ${signature.keyId} (${signature.algorithm})` : 'none'}`,
          'files:',
          ...manifest.files.map((f) => `  ${f.path}  ${f.size} bytes  sha256:${f.sha256}`),
        ];
        const extra = names.filter((n) => n !== 'manifest.json' && n !== 'signature.json' && !manifest.files.some((f) => f.path === n));
        if (extra.length > 0) lines.push(`not in the manifest: ${extra.join(', ')}`);
        process.stdout.write(`${lines.join('\n')}\n`);
      }),
    );

  bundle
    .command('serve')
    .description('serve the bundles in a folder over HTTP(S), with ETag, If-None-Match and long polling (?wait=SECONDS)')
    .argument('<dir>', 'the folder of bundles')
    .option('--port <port>', 'port', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port');
      return n;
    }, 8080)
    .option('--host <address>', 'address to listen on', '0.0.0.0')
    .option('--token <token>', 'require this bearer token (or set CANOPY_BUNDLE_TOKEN); required unless --host is a loopback address')
    .option('--allow-anonymous', 'serve without a token on a non-loopback address (behind a proxy that authenticates)', false)
    .option('--tls-cert <file>', 'serve HTTPS with this certificate')
    .option('--tls-key <file>', 'the key of --tls-cert')
    .action((dir: string, options: { port: number; host: string; token?: string; allowAnonymous: boolean; tlsCert?: string; tlsKey?: string }) =>
      guarded('serve', async () => {
        const token = options.token ?? process.env['CANOPY_BUNDLE_TOKEN'];
        // Bundles carry the policies and their data (budgets, registries, keys' ids): not for anyone who can reach the port.
        if (!token && !options.allowAnonymous && !isLoopbackHost(options.host)) {
          throw new Error(`refusing to serve bundles on ${options.host} without a bearer token: give --token (or CANOPY_BUNDLE_TOKEN), listen on --host 127.0.0.1, or say --allow-anonymous`);
        }
        const tls = options.tlsCert && options.tlsKey ? { cert: await readFile(options.tlsCert, 'utf8'), key: await readFile(options.tlsKey, 'utf8') } : undefined;
        const store = await createBundleStore({ dir, ...(token ? { token } : {}), ...(tls ? { tls } : {}) });
        const address = await store.listen({ port: options.port, host: options.host });
        say(`serving bundles from ${dir} at ${address}/<file>${token ? ' (bearer token required)' : ' (no token: anyone who reaches it may read the bundles)'}`);
        const stop = () =>
          inBackground(store.close().then(() => process.exit(0)), (error) => {
            process.stderr.write(`canopy bundle serve: the store did not close cleanly: ${messageOf(error)}\n`);
            process.exit(1);
          });
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      }),
    );

  bundle
    .command('push')
    .description('push a bundle to an OCI registry as an artifact')
    .argument('<file>', 'the bundle')
    .argument('<target>', 'oci://REGISTRY/REPOSITORY:TAG')
    .option('--insecure', 'the registry speaks plain HTTP', false)
    .option('--username <name>', 'registry user (password from CANOPY_REGISTRY_PASSWORD)')
    .action((file: string, target: string, options: { insecure: boolean; username?: string }) =>
      guarded('push', async () => {
        const host = parseOciUrl(target).registry;
        const password = process.env['CANOPY_REGISTRY_PASSWORD'];
        const access = [{ host, ...(options.insecure ? { insecure: true } : {}), ...(options.username ? { username: options.username } : {}), ...(password ? { password } : {}) }];
        const digest = await pushBundle(await readFile(file), target, access);
        say(`pushed ${file} to ${target} (${digest})`);
      }),
    );
}
