// Misbehaving network peers on 127.0.0.1, for fault tests: a port where nothing listens, a server that
// accepts connections and never answers, and a TCP proxy that can be switched to "hang" (connections
// accepted, nothing forwarded) or put on a port chosen before its target existed.
import { connect, createServer, type Server, type Socket } from 'node:net';

/** A port on 127.0.0.1 that was free a moment ago: nothing listens there until someone does. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Tracks a server's sockets so that close() can cut them all, even ones held open on purpose. */
class Sockets {
  private readonly open = new Set<Socket>();

  add(socket: Socket): void {
    this.open.add(socket);
    socket.on('close', () => this.open.delete(socket));
    // A peer that gives up resets the connection: that is not a failure of the test server.
    socket.on('error', () => undefined);
  }

  get size(): number {
    return this.open.size;
  }

  destroyAll(): void {
    for (const socket of this.open) socket.destroy();
    this.open.clear();
  }
}

async function listen(server: Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export interface Silent {
  port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  close: () => Promise<void>;
}

/** Accepts every connection, reads what is sent, and never answers. */
export async function startSilentServer(): Promise<Silent> {
  const sockets = new Sockets();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.resume();
  });
  const port = await listen(server, 0);
  return {
    port,
    get accepted() {
      return accepted;
    },
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      sockets.destroyAll();
      await closed;
    },
  };
}

export interface Proxy {
  port: number;
  /** While true, connections are accepted and nothing is forwarded on them, new or kept alive. */
  hang: boolean;
  close: () => Promise<void>;
}

/** Forwards every connection on `port` (0: any free one) to 127.0.0.1:`target`. */
export async function startProxy(target: number, port = 0): Promise<Proxy> {
  const sockets = new Sockets();
  const proxy: Proxy = { port: 0, hang: false, close: async () => undefined };
  const server = createServer((client) => {
    sockets.add(client);
    if (proxy.hang) {
      client.resume();
      return;
    }
    const upstream = connect(target, '127.0.0.1');
    sockets.add(upstream);
    // Bytes in either direction are dropped while hanging: a kept-alive connection hangs too.
    client.on('data', (data: Buffer) => void (proxy.hang || upstream.write(data)));
    upstream.on('data', (data: Buffer) => void (proxy.hang || client.write(data)));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  proxy.port = await listen(server, port);
  proxy.close = async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    sockets.destroyAll();
    await closed;
  };
  return proxy;
}
