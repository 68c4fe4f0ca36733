"""The service's routes as the `getServiceRequest` AWS Lambda, through Mangum."""
