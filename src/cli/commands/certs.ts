// `canopy certs --out DIR --dns NAME...`: a CA and a serving certificate for a webhook, and its caBundle.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { caBundleOf, defaultServingHosts, ensureCertificates, issueClientCertificate } from '../../sources/tls/index.js';
import { pathIn, type CliIo } from '../io.js';
import type { CertsOptions } from '../options.js';

export async function writeCertificates(options: CertsOptions, io: CliIo): Promise<number> {
  const out = pathIn(io, options.out);
  const hosts = options.dns && options.dns.length > 0 ? options.dns : defaultServingHosts();
  const files = await ensureCertificates(out, hosts, { renewServing: true });
  io.stderr.write(
    `canopy: wrote ${options.out}/tls.crt and tls.key for ${hosts.join(', ')}; ` +
      `CA ${files.created === 'ca-and-serving' ? 'created' : 'kept'} at ${files.caCertPath}\n`,
  );
  if (options.client) {
    const client = issueClientCertificate(files.ca, options.client);
    await writeFile(path.join(out, 'client.crt'), client.cert);
    await writeFile(path.join(out, 'client.key'), client.key, { mode: 0o600 });
    io.stderr.write(`canopy: wrote ${options.out}/client.crt and client.key for ${options.client}\n`);
  }
  io.stdout.write(`${caBundleOf(files.ca.cert)}\n`);
  return 0;
}
