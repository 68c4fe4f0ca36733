"""Everything that knows DynamoDB: the AWS clients (aws, backend) and the connections they keep
(pooled_connections), the tables' layout (tables), items and their mapping to the models (items),
expressions, the guard around each call, list cursors, Idempotency-Key records, the per-address counters,
the relay's checkpoints, the repository's reads and writes, creating a request once (submissions), the
audit, and the Lambda warm-up's stand-in for DynamoDB.

Imports only service.core. The only package that imports aioboto3, aiobotocore or botocore: it takes and
returns the models of service.core and raises its errors, and opens the SNS, SQS and stream clients the
events package uses (AWS_ERRORS names what those raise).
"""
