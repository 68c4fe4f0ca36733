"""The routes, one module per resource: the website's routes, the REST API over service requests, health."""
