"""The service's Lambda handler, warm, for bench/latency.py: one long-lived process that imports the handler
as Lambda's runtime does (its settings from the environment) and answers batches of events.

    python -m bench.latency_lambda      (the environment names the DynamoDB endpoint and the settings)

Each line on stdin is a JSON list of API Gateway events; each is handed to the handler in turn, timed on the
monotonic clock (CLOCK_MONOTONIC, the clock of the proxy and of the Node.js runner), and one line answers
them all: `@bench {"samples": [[start_ns, end_ns, status, body], ...]}`. The service's log lines go to
stderr, as on Lambda.

The benchmark reaches the service only here and through its command line (SERVICE_CLI): the handler's
module path and the command's name are the only two things it needs of the service's layout.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from typing import Any

# How the benchmark creates the tables and stores the lab's rows: the service's own command line.
SERVICE_CLI = ("-m", "service")
REPLY = "@bench "


@dataclass
class Context:
    """What Lambda's runtime passes as the handler's `context`."""

    aws_request_id: str = "bench-invocation"
    function_name: str = "getServiceRequest"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:getServiceRequest"
    memory_limit_in_mb: int = 1024
    log_group_name: str = "/aws/lambda/getServiceRequest"
    log_stream_name: str = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def main() -> None:
    # Imported here, as Lambda's runtime imports it: its import is the function's initialisation.
    from lambda_adapter.handler import handler

    context = Context()
    for line in sys.stdin:
        samples: list[list[Any]] = []
        for event in json.loads(line):
            started = time.monotonic_ns()
            response = handler(event, context)  # type: ignore[arg-type]
            ended = time.monotonic_ns()
            samples.append([started, ended, response["statusCode"], str(response.get("body", ""))[:300]])
        print(REPLY + json.dumps({"samples": samples}), flush=True)


if __name__ == "__main__":
    main()
