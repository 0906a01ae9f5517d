/**
 * Private Redis and MongoDB servers that a test may stop, freeze and restart: a `redis-server`
 * child, and the MongoDB wire-protocol stand-in (`../shared/tools/mongo-wire-server/start.sh`,
 * run with `bash`). Each listens on its own free port of 127.0.0.1 and a restart reuses the port,
 * so a client configured once sees the same server go away and come back.
 *
 * On Deno this needs `--allow-run=redis-server,bash`.
 *
 * @module
 */

import { existsSync, mkdirSync, rmSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Child, start } from "./_runtime.ts";

/** A server process the test controls. */
export interface PrivateServer {
  /** Connection URL for the backend. */
  readonly url: string;
  /** Kills the server; connections are refused until {@linkcode PrivateServer.start}. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  /** Freezes it (SIGSTOP): connections stay open and nothing answers. */
  pause(): Promise<void>;
  /** Thaws a frozen server (SIGCONT). */
  resume(): Promise<void>;
}

const MONGO_START = fileURLToPath(new URL("../../shared/tools/mongo-wire-server/start.sh", import.meta.url));

/**
 * Why `redis-server` cannot be run here, if it cannot.
 *
 * @returns A reason to skip, or `undefined`.
 */
export async function redisServerMissing(): Promise<string | undefined> {
  try {
    const { code } = await start("redis-server", ["--version"]).exited;
    return code === 0 ? undefined : "redis-server --version failed";
  } catch {
    return "redis-server is not on PATH (apt-get install redis-server)";
  }
}

/**
 * Why the MongoDB stand-in cannot be started here, if it cannot.
 *
 * @returns A reason to skip, or `undefined`.
 */
export async function mongoServerMissing(): Promise<string | undefined> {
  // Asked through bash, which runs it anyway: the tests may not read outside the repository.
  const { code } = await start("bash", ["-c", 'test -f "$0"', MONGO_START]).exited;
  return code === 0 ? undefined : `${MONGO_START} is missing`;
}

/**
 * Starts a private `redis-server` without persistence.
 *
 * @returns The running server.
 */
export async function privateRedis(): Promise<PrivateServer> {
  const port = await freePort();
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
  return await privateServer(`redis://127.0.0.1:${port}`, port, () => start("redis-server", args));
}

/** The stand-in, installed once (it needs two npm packages) and shared by later runs. */
const MONGO_INSTALL = join(tmpdir(), "http-cache-mongo-wire-server");

/**
 * Starts a private MongoDB wire-protocol stand-in (in memory: a restart starts empty).
 *
 * @returns The running server.
 */
export async function privateMongo(): Promise<PrivateServer> {
  const script = await installMongo();
  const port = await freePort();
  // exec: the server is this child itself, so signals reach it.
  const command = 'MONGO_SHIM_TTL_MS=1000 exec node "$0" "$1"';
  return await privateServer(
    `mongodb://127.0.0.1:${port}/?directConnection=true`,
    port,
    () => start("bash", ["-c", command, script, String(port)]),
  );
}

/** A server process on `port` that `launch` starts; started before it is returned. */
async function privateServer(url: string, port: number, launch: () => Child): Promise<PrivateServer> {
  let child: Child | undefined;
  const server: PrivateServer = {
    url,
    async start() {
      child = launch();
      await listening(port);
    },
    async stop() {
      const running = child;
      child = undefined;
      if (running === undefined) return;
      running.kill("SIGCONT");
      running.kill("SIGKILL");
      await running.exited;
    },
    pause: () => Promise.resolve(child?.kill("SIGSTOP")),
    resume: () => Promise.resolve(child?.kill("SIGCONT")),
  };
  await server.start();
  return server;
}

/**
 * Installs the stand-in with its own start.sh (which runs npm) unless an earlier run did; one
 * process at a time installs, the others wait for it.
 *
 * @returns The path of its `server.mjs`.
 */
async function installMongo(): Promise<string> {
  const home = join(MONGO_INSTALL, "mongo-wire-server");
  const script = join(home, "server.mjs");
  const ready = () => existsSync(script) && existsSync(join(home, "node_modules", "mingo"));
  if (ready()) return script;
  const lock = `${MONGO_INSTALL}.lock`;
  let installing = false;
  try {
    mkdirSync(lock);
    installing = true;
  } catch {
    // Another process is installing it.
  }
  if (installing) {
    try {
      // start.sh installs, starts a server and writes its pid: stop that server at once.
      const install = 'bash "$0" "$1" "$2" >/dev/null && kill "$(cat "$2/mongo.pid")"';
      const port = String(await freePort());
      const { code, stderr } = await start("bash", ["-c", install, MONGO_START, port, MONGO_INSTALL], {
        capture: true,
      }).exited;
      if (code !== 0) throw new Error(`Cannot install the MongoDB stand-in: ${stderr}`);
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
  for (let attempt = 0; attempt < 1200 && !ready(); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (!ready()) throw new Error(`Cannot install the MongoDB stand-in: remove ${lock} if no test runs`);
  return script;
}

/** A TCP proxy in front of a server, whose open connections a test can silence or forget. */
export interface SilencingProxy {
  /** The proxy's port on 127.0.0.1. */
  readonly port: number;
  /**
   * Stops passing bytes either way on the connections open now, and leaves them open (as a
   * network partition or a dead peer leaves them). Connections made later pass.
   */
  silence(): void;
  /**
   * Forgets the connections open now: each is reset at the next byte its client sends (as a NAT
   * gateway resets one it dropped while the client's process was frozen). Connections made later
   * pass.
   */
  forget(): void;
  /** How many times a Redis command named `name` went through to the server. */
  count(name: string): number;
  /** Closes every connection and the proxy. */
  close(): Promise<void>;
}

/**
 * Starts a {@linkcode SilencingProxy} on a free port of 127.0.0.1.
 *
 * @param target The server behind it, as a URL with a host and a port.
 * @returns The listening proxy.
 */
export async function silencingProxy(target: string): Promise<SilencingProxy> {
  const { hostname, port } = new URL(target);
  const silenced = new WeakSet<Socket>();
  const forgotten = new WeakSet<Socket>();
  const sockets: Socket[] = [];
  let sent = "";
  const proxy = createServer((inbound) => {
    const outbound = connect(Number(port), hostname);
    sockets.push(inbound);
    inbound.on("data", (chunk: Uint8Array) => {
      if (forgotten.has(inbound)) return void (inbound.resetAndDestroy(), outbound.destroy());
      if (silenced.has(inbound)) return;
      sent += new TextDecoder().decode(chunk);
      outbound.write(chunk);
    });
    outbound.on("data", (chunk) => silenced.has(inbound) || inbound.write(chunk));
    for (const socket of [inbound, outbound]) socket.on("error", () => {});
    inbound.on("close", () => outbound.destroy());
    outbound.on("close", () => inbound.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  return {
    port: (proxy.address() as { port: number }).port,
    silence: () => sockets.forEach((socket) => silenced.add(socket)),
    forget: () => sockets.forEach((socket) => forgotten.add(socket)),
    count: (name) => sent.split(`\r\n${name}\r\n`).length - 1,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    },
  };
}

/** A TCP server on 127.0.0.1 that accepts every connection and never sends a byte. */
export async function silentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A port of 127.0.0.1 that nothing listens on right now.
 *
 * @returns The port.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

async function listening(port: number): Promise<void> {
  for (let attempt = 0; attempt < 400; attempt++) {
    if (await accepts(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`Cannot start a server: nothing listens on port ${port}`);
}

/** What `call` resolves to, tried up to five times while it rejects (a slow connect under load). */
export async function eventually<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt === 5) throw error;
    }
  }
}
