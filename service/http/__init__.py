"""The HTTP layer: the app factory (app), the one middleware every request passes first (edge) and what it
applies (requestlog, cors, the Host rules of service.core.hosts), the body limit (bodylimit), the routes
(routes/), what they share (deps), who calls (caller), errors as answers (responses), the documentation pages
(doc_pages), and `serve`'s bounded connections (uvicorn_connections).

The only package that imports FastAPI. Imports service.core, service.storage (the repository, its
submissions and records, never a DynamoDB type) and service.identity.
"""
