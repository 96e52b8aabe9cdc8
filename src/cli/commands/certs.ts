// `canopy certs --out DIR --dns NAME...`: a CA and a serving certificate for a webhook, and its caBundle.
import type { Command } from 'commander';
import { caBundleOf, defaultServingHosts, ensureCertificates } from '../../tls/index.js';

interface CertsOptions {
  out: string;
  dns?: string[];
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
    .action(async (options: CertsOptions) => {
      const hosts = options.dns && options.dns.length > 0 ? options.dns : defaultServingHosts();
      const files = await ensureCertificates(options.out, hosts, { renewServing: true });
      process.stderr.write(
        `canopy: wrote ${options.out}/tls.crt and tls.key for ${hosts.join(', ')}; ` +
          `CA ${files.created === 'ca-and-serving' ? 'created' : 'kept'} at ${files.caCertPath}\n`,
      );
      process.stdout.write(`${caBundleOf(files.ca.cert)}\n`);
    });
}
