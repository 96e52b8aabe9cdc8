// `canopy bundle build|sign|verify|inspect|serve|push`
import { readFile, writeFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { buildBundle, createBundleStore, inspectBundle, parseOciUrl, parseSelectorText, pushBundle, readPublicKeys, signBundle, verifyBundle, type ClusterSelector } from '../../sources/bundle/index.js';
import { EXIT } from '../output.js';
import { messageOf } from '../../operations/errors/index.js';
import { pathIn, type CliIo } from '../io.js';
import type { BundleBuildOptions, BundlePushOptions, BundleServeOptions, BundleSignOptions, BundleVerifyOptions } from '../options.js';

/** 127.0.0.0/8, ::1 and localhost: only this host can connect. */
function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host) || /^::ffff:127\./.test(host);
}

/** `channel prod, clusters {"matchLabels":{"region":"eu"}}` */
function describeAudience(audience: { channel?: string; clusters?: ClusterSelector }): string {
  return [audience.channel ? `channel ${audience.channel}` : 'no channel', ...(audience.clusters ? [`clusters ${JSON.stringify(audience.clusters)}`] : [])].join(', ');
}

const say = (io: CliIo, message: string) => io.stderr.write(`canopy: ${message}\n`);

/**
 * Runs a bundle command; whatever fails (a file, a key, a registry, the policies) is reported as one
 * line and exit 1. CANOPY_DEBUG=1 adds the stack.
 */
async function guarded(what: string, io: CliIo, action: () => Promise<number | void>): Promise<number> {
  try {
    return (await action()) ?? EXIT.ok;
  } catch (error) {
    const message = messageOf(error);
    io.stderr.write(`canopy bundle ${what}: ${message}\n`);
    if (io.env['CANOPY_DEBUG'] && error instanceof Error) io.stderr.write(`${error.stack ?? ''}\n`);
    return EXIT.invalid;
  }
}

export function build(dir: string, options: BundleBuildOptions, io: CliIo): Promise<number> {
  return guarded('build', io, async () => {
    const clusters: ClusterSelector | undefined = options.clusterSelector ? parseSelectorText(options.clusterSelector, (text) => parseYaml(text) as unknown) : undefined;
    const audience = { ...(options.channel ? { channel: options.channel } : {}), ...(clusters ? { clusters } : {}) };
    const built = await buildBundle(pathIn(io, dir), {
      ...(options.revision ? { revision: options.revision } : {}),
      ...(options.commit ? { sourceCommit: options.commit } : {}),
      ...(options.channel || clusters ? { audience } : {}),
      ...(options.allowEmpty ? { allowEmpty: true } : {}),
      ...(options.allowCanaryDenials ? { allowCanaryDenials: true } : {}),
    });
    await writeFile(pathIn(io, options.output), built.bytes);
    const tests = built.manifest.files.filter((f) => /\.test\.ya?ml$/.test(f.path)).length;
    const forWhom = built.manifest.audience ? `, for ${describeAudience(built.manifest.audience)}` : ', for webhooks without a channel';
    say(io, `built ${options.output}: revision ${built.manifest.revision}, ${built.manifest.files.length} files (${tests} test files)${forWhom}, unsigned`);
  });
}

export function sign(file: string, options: BundleSignOptions, io: CliIo): Promise<number> {
  return guarded('sign', io, async () => {
    const signed = await signBundle(await readFile(pathIn(io, file)), await readFile(pathIn(io, options.key), 'utf8'));
    await writeFile(pathIn(io, options.output ?? file), signed.bytes);
    say(io, `signed ${options.output ?? file} with key ${signed.keyId}`);
  });
}

export function verify(file: string, options: BundleVerifyOptions, io: CliIo): Promise<number> {
  return guarded('verify', io, async () => {
    const keys = readPublicKeys(await Promise.all(options.pub.map((p) => readFile(pathIn(io, p), 'utf8'))));
    const verified = await verifyBundle(await readFile(pathIn(io, file)), keys);
    io.stdout.write(`${file}: valid, revision ${verified.manifest.revision}, signed by key ${verified.keyId}, ${verified.files.size} files\n`);
  });
}

export function inspect(file: string, io: CliIo): Promise<number> {
  return guarded('inspect', io, async () => {
    const { manifest, signature, names } = await inspectBundle(await readFile(pathIn(io, file)));
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
    io.stdout.write(`${lines.join('\n')}\n`);
  });
}

/** Resolves with the first of SIGTERM and SIGINT; a second one finds the default handler again. */
function stopSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

/** Serves until SIGTERM or SIGINT, then closes the store: exit 0, or 1 if it did not close cleanly. */
export function serve(dir: string, options: BundleServeOptions, io: CliIo): Promise<number> {
  return guarded('serve', io, async () => {
    const token = options.token ?? io.env['CANOPY_BUNDLE_TOKEN'];
    // Bundles carry the policies and their data (budgets, registries, keys' ids): not for anyone who can reach the port.
    if (!token && !options.allowAnonymous && !isLoopbackHost(options.host)) {
      throw new Error(`refusing to serve bundles on ${options.host} without a bearer token: give --token (or CANOPY_BUNDLE_TOKEN), listen on --host 127.0.0.1, or say --allow-anonymous`);
    }
    const tls = options.tlsCert && options.tlsKey ? { cert: await readFile(pathIn(io, options.tlsCert), 'utf8'), key: await readFile(pathIn(io, options.tlsKey), 'utf8') } : undefined;
    const store = await createBundleStore({ dir: pathIn(io, dir), ...(token ? { token } : {}), ...(tls ? { tls } : {}) });
    const address = await store.listen({ port: options.port, host: options.host });
    say(io, `serving bundles from ${dir} at ${address}/<file>${token ? ' (bearer token required)' : ' (no token: anyone who reaches it may read the bundles)'}`);
    await stopSignal();
    try {
      await store.close();
      return EXIT.ok;
    } catch (error) {
      io.stderr.write(`canopy bundle serve: the store did not close cleanly: ${messageOf(error)}\n`);
      return 1;
    }
  });
}

export function push(file: string, target: string, options: BundlePushOptions, io: CliIo): Promise<number> {
  return guarded('push', io, async () => {
    const host = parseOciUrl(target).registry;
    const password = io.env['CANOPY_REGISTRY_PASSWORD'];
    const access = [{ host, ...(options.insecure ? { insecure: true } : {}), ...(options.username ? { username: options.username } : {}), ...(password ? { password } : {}) }];
    const digest = await pushBundle(await readFile(pathIn(io, file)), target, access);
    say(io, `pushed ${file} to ${target} (${digest})`);
  });
}
