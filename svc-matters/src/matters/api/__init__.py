"""HTTP routes of svc-matters, one module per capability; ``routers`` lists them for the app."""
from matters.api import applications, catalogue, materials

routers = [catalogue.router, applications.router, materials.router]
