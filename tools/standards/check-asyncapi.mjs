// Validate AsyncAPI documents with the official parser (@asyncapi/parser); prints every diagnostic.
// Usage: node check-asyncapi.mjs FILE...   Exit code: 0 no errors, 1 errors, 2 bad usage.
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const SEVERITY = ["error", "warning", "information", "hint"];
const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node check-asyncapi.mjs FILE...");
  process.exit(2);
}
const parser = new Parser();
let errors = 0;
for (const file of files) {
  const { document, diagnostics } = await parser.parse(readFileSync(file, "utf8"), { source: file });
  const counts = [0, 0, 0, 0];
  for (const d of diagnostics) {
    counts[d.severity] += 1;
    const line = d.range ? d.range.start.line + 1 : 0;
    console.log(`${file}:${line} ${SEVERITY[d.severity]} ${d.code} ${d.path.join(".")}: ${d.message}`);
  }
  if (document === undefined && counts[0] === 0) counts[0] = 1;  // unparsed without saying why
  errors += counts[0];
  console.log(`${file}: ${counts[0]} errors, ${counts[1]} warnings, ${counts[2]} infos, ${counts[3]} hints`);
}
process.exit(errors > 0 ? 1 : 0);
