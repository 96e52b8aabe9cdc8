// `canopy certs --out DIR --dns NAME...`: a CA and a serving certificate for a webhook, and its caBundle.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { caBundleOf, defaultServingHosts, ensureCertificates, issueClientCertificate } from '../../sources/tls/index.js';

interface CertsOptions {
  out: string;
  dns?: string[];
  client?: string;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function registerCerts(program: Command): void {
  program
    .command('certs')
    .description(
      'write a CA (ca.crt, ca.key) and a serving certificate (tls.crt, tls.key) into a folder and print the ' +
        "webhook's caBundle; an existing CA in the folder is kept, so the caBundle stays the same",
    )
    .requiredOption('--out <dir>', 'the folder to write to')
    .option(
      '--dns <name>',
      'a DNS name or IP address for the serving certificate (repeatable); default: localhost, 127.0.0.1, ::1 ' +
        'and the names of the Service canopy in canopy-system',
      collect,
    )
    .option(
      '--client <name>',
      "also write a client certificate with this common name (client.crt, client.key) signed by the same CA, for the API server's " +
        'admission kubeconfig when canopy serve runs with --tls-client-ca DIR/ca.crt',
    )
    .action(async (options: CertsOptions) => {
      const hosts = options.dns && options.dns.length > 0 ? options.dns : defaultServingHosts();
      const files = await ensureCertificates(options.out, hosts, { renewServing: true });
      process.stderr.write(
        `canopy: wrote ${options.out}/tls.crt and tls.key for ${hosts.join(', ')}; ` +
          `CA ${files.created === 'ca-and-serving' ? 'created' : 'kept'} at ${files.caCertPath}\n`,
      );
      if (options.client) {
        const client = issueClientCertificate(files.ca, options.client);
        await writeFile(path.join(options.out, 'client.crt'), client.cert);
        await writeFile(path.join(options.out, 'client.key'), client.key, { mode: 0o600 });
        process.stderr.write(`canopy: wrote ${options.out}/client.crt and client.key for ${options.client}\n`);
      }
      process.stdout.write(`${caBundleOf(files.ca.cert)}\n`);
    });
}
