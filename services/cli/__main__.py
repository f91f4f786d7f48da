"""`python -m services.cli`: the same as the `cases` console script."""

from services.cli import run

run()
