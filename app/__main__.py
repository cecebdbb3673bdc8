"""`python -m app`: the administration command line."""

from app.cli import cli

cli()
