"""The service's own vocabulary, used by every other part: settings, the models and input rules, the error
catalogue, logging, the clock, a per-process cache, Host names and garbage collection.

Imports nothing of the project outside this package, and neither a web framework nor an AWS library.
"""
