/**
 * The loopback origin of the benchmarks: `Deno.serve` on Deno, `node:http` on Node, on
 * 127.0.0.1 and a free port. `GET /<size>/<anything>` answers `size` bytes (`1k`, `100k`, `10m`
 * or a number) that stay fresh for an hour.
 *
 * @module
 */

/** A running origin. */
export interface Origin {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** Requests served so far. */
  readonly requests: number;
  /** Stops the server. */
  close(): Promise<void>;
}

/** Body sizes by name. */
export const SIZES: Record<string, number> = { "1k": 1024, "100k": 100 * 1024, "10m": 10 * 1024 * 1024 };

const bodies = new Map<number, Uint8Array>();

/**
 * The body of a given size: the same pseudo-random bytes every time.
 *
 * @param size Bytes.
 * @returns The bytes.
 */
export function body(size: number): Uint8Array<ArrayBuffer> {
  let bytes = bodies.get(size);
  if (bytes === undefined) {
    bytes = new Uint8Array(size);
    let x = 0x9e3779b9;
    for (let i = 0; i < size; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      bytes[i] = x & 0xff;
    }
    bodies.set(size, bytes);
  }
  return bytes as Uint8Array<ArrayBuffer>;
}

/** The response headers the origin sends (besides `content-length` and `date`). */
export function originHeaders(size: number): Record<string, string> {
  return {
    "content-type": "application/octet-stream",
    "cache-control": "public, max-age=3600",
    "etag": `"b${size}"`,
    "last-modified": "Mon, 01 Jan 2024 00:00:00 GMT",
  };
}

/**
 * Starts the origin.
 *
 * @returns The running origin.
 */
export async function startOrigin(): Promise<Origin> {
  let requests = 0;
  const sizeOf = (path: string) => {
    const name = path.split("/")[1] ?? "";
    return SIZES[name] ?? (Number(name) || 0);
  };
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (deno !== undefined) {
    const ready = Promise.withResolvers<number>();
    const server = deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) => ready.resolve(port),
    }, (request) => {
      requests++;
      const size = sizeOf(new URL(request.url).pathname);
      return new Response(body(size), { headers: originHeaders(size) });
    });
    const port = await ready.promise;
    return {
      url: `http://127.0.0.1:${port}`,
      get requests() {
        return requests;
      },
      close: () => server.shutdown(),
    };
  }
  const { createServer } = await import("node:http");
  const server = createServer((request, response) => {
    requests++;
    const size = sizeOf(request.url ?? "/");
    response.writeHead(200, { ...originHeaders(size), "content-length": String(size) });
    response.end(body(size));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    get requests() {
      return requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
