"""Pure algorithms: no Prefect, no SQLAlchemy, no HTTP. Tested in milliseconds."""
