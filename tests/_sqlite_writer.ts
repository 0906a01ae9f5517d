// A second connection to one SQLite file, in a worker thread: it contends for the file's locks
// like another process would (see "concurrent writers on one file" in sqlite_test.ts).
import { parentPort, workerData } from "node:worker_threads";
import { SQLiteStorage } from "../backends/sqlite.ts";

const { path, id, count } = workerData as { path: string; id: number; count: number };
const storage = new SQLiteStorage({ path });
for (let i = 0; i < count; i++) {
  await storage.set(`w${id}-${i}`, new Uint8Array(i % 7 === 0 ? 70_000 : 100).fill(id), Infinity);
}
await storage.close();
parentPort!.postMessage("done");
