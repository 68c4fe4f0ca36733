"""Service-request backend of the Quick Oil Change and Repair shop."""
