// The course's Node.js functions, warm, for bench/latency.py: one long-lived process that imports each
// module once (from build/, extracted by the benchmark) and answers batches of invocations.
//
//     node latency_runner.mjs      (AWS_ENDPOINT_URL_DYNAMODB names the delayed endpoint)
//
// Each line on stdin is a JSON batch: {"module": PATH, "export": NAME, "invocations": [...]}. With the export
// `handler` each invocation is an API Gateway event handed to the module's handler, as Lambda does; with
// another export (a function the course's index.mjs calls), it is {"args": [...]}, and the function's result
// becomes the answer's body as the course's index.mjs makes it (JSON.stringify, status 200). Each invocation
// is timed with process.hrtime (CLOCK_MONOTONIC, the proxy's clock), and one line answers the batch:
// `@bench {"samples": [[start_ns, end_ns, status, body], ...]}`. What the course's code logs goes to
// stdout too, as on Lambda; the benchmark reads only the lines marked `@bench`.
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

const modules = new Map();

async function load(path) {
  if (!modules.has(path)) modules.set(path, await import(pathToFileURL(path).href));
  return modules.get(path);
}

async function invoke(module, name, invocation) {
  if (name === "handler") return module.handler(invocation);
  const result = await module[name](...invocation.args);
  return { statusCode: 200, body: JSON.stringify(result) };
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  const batch = JSON.parse(line);
  const module = await load(batch.module);
  const samples = [];
  for (const invocation of batch.invocations) {
    const started = process.hrtime.bigint();
    let response;
    try {
      response = await invoke(module, batch.export, invocation);
    } catch (error) {
      response = { statusCode: 599, body: String(error) };
    }
    const ended = process.hrtime.bigint();
    samples.push([Number(started), Number(ended), response.statusCode, String(response.body).slice(0, 300)]);
  }
  process.stdout.write("@bench " + JSON.stringify({ samples }) + "\n");
}
