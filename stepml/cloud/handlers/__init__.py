"""Lambda handlers: standard library, boto3 and the light stepml modules only (see ``stepml.cloud.bundle``).

Each module has pure functions (typed inputs -> outputs, clients injected) and a ``handler(event, context)``
adapter that reads the environment and the embedded config and builds the boto3 clients.
"""
