/**
 * A loopback TCP proxy in front of PostgreSQL, so a test can take "the database" down and bring it
 * back on the same address while the function under test keeps running: down closes every proxied
 * connection and refuses new ones (ECONNREFUSED), up listens again. The real server, shared with
 * other test files, is never touched.
 */
import type { Server, Socket } from "node:net";
import { connect, createServer } from "node:net";

export interface TcpProxy {
  readonly port: number;
  /** Connections currently proxied. */
  readonly open: number;
  /** Cuts every connection and stops listening: clients see resets, then refused connections. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;

  const listen = async (): Promise<void> => {
    const next = createServer((client) => {
      const upstream = connect(target);
      sockets.add(client);
      sockets.add(upstream);
      const drop = (): void => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on("error", drop);
      upstream.on("error", drop);
      client.on("close", drop);
      upstream.on("close", drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      next.once("error", reject);
      next.listen(port, "127.0.0.1", () => resolve());
    });
    const address = next.address();
    port = typeof address === "object" && address ? address.port : port;
    server = next;
  };

  const down = async (): Promise<void> => {
    const current = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (current) await new Promise<void>((resolve) => current.close(() => resolve()));
  };

  await listen();
  return {
    get port() {
      return port;
    },
    get open() {
      return sockets.size / 2;
    },
    down,
    up: async () => {
      if (!server) await listen();
    },
    close: down,
  };
}
