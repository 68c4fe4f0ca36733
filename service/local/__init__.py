"""What exists only for local use: the in-memory AWS of `make run` (embedded), the lab's example rows
(lab_rows), the lab's topic and queues set up and watched (lab_queues).

Imports service.core and service.storage; no web framework. Nothing deployed depends on it but seeding.
"""
