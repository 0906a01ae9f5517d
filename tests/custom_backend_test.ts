// The backend of docs/custom-backend.md passes the same conformance suite as the shipped ones.
import { MapBackend } from "../examples/map_storage.ts";
import { runStorageSuite } from "./_suite/storage_suite.ts";

runStorageSuite({ name: "custom (docs example)", open: () => Promise.resolve(new MapBackend()) });
