"""Services: drive a model backend through the generation cache. No Prefect (tasks wrap them)."""
