// The lab's getDynamoServiceRequests, timed over repeated calls by bench/active_list.py.
//
//     node active_runner.mjs LAB_MODULE RUNS
//
// LAB_MODULE is the path of the lab's dynamoService.mjs (extracted by bench/common.py). The lab's code runs
// as it is: only DynamoDBDocumentClient.send is wrapped, to note what each Scan read. Its capacity is not
// asked for by the lab's code, so the same Scan (the lab's own parameters) runs once more with
// ReturnConsumedCapacity=TOTAL, on a client of its own. Prints one line of JSON.
import { pathToFileURL } from "node:url";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, ScanCommand } from "@aws-sdk/lib-dynamodb";

const lab = pathToFileURL(process.argv[2]).href;
const runs = Number(process.argv[3]);
const seen = [];
const send = DynamoDBDocumentClient.prototype.send;
DynamoDBDocumentClient.prototype.send = async function (command, ...rest) {
  const out = await send.call(this, command, ...rest);
  seen.push({ input: command.input, scanned: out.ScannedCount, count: out.Count,
              more: out.LastEvaluatedKey !== undefined });
  return out;
};
const { getDynamoServiceRequests } = await import(lab);
const samples = [];
let returned = 0;
for (let i = 0; i <= runs; i++) {  // the first call opens the connection: not counted
  seen.length = 0;
  const t0 = performance.now();
  const items = await getDynamoServiceRequests();
  const t1 = performance.now();
  if (i > 0) samples.push((t1 - t0) / 1000);
  returned = items.length;
}
const last = seen[seen.length - 1];
const calls = seen.length;
const own = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const again = await own.send(new ScanCommand({ ...last.input, ReturnConsumedCapacity: "TOTAL" }));
console.log(JSON.stringify({ samples, returned, calls, scanned: last.scanned,
                             more: last.more, capacity: again.ConsumedCapacity.CapacityUnits }));
