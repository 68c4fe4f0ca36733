// A cold start of the lab's code, for bench/cold_start.py: import the lab's dynamoService.mjs and answer
// its first getDynamoServiceRequests, in a fresh process.
//
//     node cold_start_runner.mjs LAB_MODULE
//
// Prints one line of JSON: the seconds the import and the first answer took, the items answered, and when
// the answer was ready on the system's monotonic clock (the one Python's time.monotonic() reads), so the
// benchmark can tell the time from the process's start to its answer.
import { pathToFileURL } from "node:url";

const lab = pathToFileURL(process.argv[2]).href;
const t0 = performance.now();
const { getDynamoServiceRequests } = await import(lab);
const t1 = performance.now();
const items = await getDynamoServiceRequests();
const t2 = performance.now();
const answered = Number(process.hrtime.bigint()) / 1e9;
console.log(
  JSON.stringify({ import: (t1 - t0) / 1000, first: (t2 - t1) / 1000, items: items.length, answered }),
);
