"""Who a request comes from: the technician's claims (claims), the three AUTH_MODEs (modes), Cognito ID
tokens (cognito) and the pool's signing keys (jwks), the technicians' group (groups).

Imports only service.core; reads an HTTP connection's headers through Starlette's HTTPConnection, and knows
nothing of FastAPI or DynamoDB.
"""
