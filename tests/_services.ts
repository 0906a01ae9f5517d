/**
 * Where the backend tests find their servers: the URLs exported by `scripts/services.sh` (run
 * by `npm test`) or set by hand for `docker compose up -d`.
 *
 * @module
 */

import process from "node:process";

/** The environment variables that name a test service. */
export type ServiceVariable = "REDIS_URL" | "MONGODB_URL";

/**
 * Reads a service URL from the environment.
 *
 * @param name The variable to read.
 * @returns The URL, or (outside CI) a reason to skip the tests that need it.
 * @throws {Error} Under `CI=true` when the variable is missing: there a missing service is a failure.
 *
 * @example Skip a test without Redis
 * ```ts ignore
 * const { url, skip } = serviceUrl("REDIS_URL");
 * Deno.test({ name: "redis works", ignore: skip !== undefined, fn: () => console.log(url) });
 * ```
 */
export function serviceUrl(name: ServiceVariable): { url?: string; skip?: string } {
  const url = process.env[name];
  if (url) return { url };
  if (process.env.CI === "true") {
    throw new Error(`Cannot run the backend tests: ${name} is not set (source scripts/services.sh first)`);
  }
  return {
    skip: `${name} is not set: run \`docker compose up -d\` and set ${name}, ` +
      "or run `npm test`, which starts the services",
  };
}
