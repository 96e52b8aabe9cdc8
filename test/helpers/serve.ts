// Runs `canopy serve` as a process, as an operator would, and talks to it over HTTPS.
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpsRequest, type Agent } from 'node:https';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { REPO_ROOT } from './fixtures.js';

export interface ServeProcess {
  port: number;
  proc: ChildProcess;
  stderr: () => string;
  stdout: () => string;
  exited: Promise<number | null>;
}

const running = new Set<ChildProcess>();

/** Kills every server a test left running; call from afterEach. */
export function killServers(): void {
  for (const proc of running) proc.kill('SIGKILL');
  running.clear();
}

/** Starts `canopy serve` on 127.0.0.1 and a free port; resolves once it says where it listens. */
export function startServe(args: string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<ServeProcess> {
  const proc = spawn(process.execPath, [`${REPO_ROOT}bin/canopy.js`, 'serve', '--host', '127.0.0.1', '--port', '0', ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  running.add(proc);
  let stderr = '';
  let stdout = '';
  proc.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) =>
    proc.on('close', (code) => {
      running.delete(proc);
      resolve(code);
    }),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 20_000);
    proc.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      const match = /listening on https:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve({ port: Number(match[1]), proc, stderr: () => stderr, stdout: () => stdout, exited });
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited ${code}: ${stderr}`));
    }, reject);
  });
}

export interface HttpsAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The certificate the server presented on this connection. */
  certificate: PeerCertificate;
}

/** One HTTPS request to 127.0.0.1 trusting only `ca`; a new connection unless an agent is given. */
export function httpsCall(
  port: number,
  ca: string,
  method: string,
  path: string,
  body?: string,
  options: { agent?: Agent; timeoutMs?: number; servername?: string } = {},
): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        ca,
        servername: options.servername ?? 'localhost',
        agent: options.agent ?? false,
        timeout: options.timeoutMs ?? 10_000,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
      },
      (res) => {
        const certificate = (res.socket as TLSSocket).getPeerCertificate();
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, certificate }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}
