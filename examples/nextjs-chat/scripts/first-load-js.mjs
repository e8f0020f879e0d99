// The first-load JavaScript of each route, as `next build` records it: Next.js 16 no longer
// prints it, but writes .next/diagnostics/route-bundle-stats.json. Prints raw and gzip bytes.
// Run after `npm run build`: `node scripts/first-load-js.mjs`.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const root = join(import.meta.dirname, "..");
const stats = JSON.parse(readFileSync(join(root, ".next/diagnostics/route-bundle-stats.json"), "utf8"));
const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
for (const { route, firstLoadUncompressedJsBytes, firstLoadChunkPaths } of stats) {
  const gzip = firstLoadChunkPaths.reduce(
    (sum, path) => sum + gzipSync(readFileSync(join(root, path)), { level: 9 }).length,
    0,
  );
  console.log(`${route.padEnd(34)} ${kib(firstLoadUncompressedJsBytes).padStart(11)} raw ${kib(gzip).padStart(10)} gzip`);
}
