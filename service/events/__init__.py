"""Status-change events: which stream records become an SNS message and how it is published (messages),
`relay-events` following the stream (relay), records that could not be published (failure_queue).

Imports service.core and service.storage (its clients, checkpoints and AWS_ERRORS); no web framework.
"""
