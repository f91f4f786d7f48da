"""The HTTP API (SPEC section 12): FastAPI over the same applications the command line
drives, with bearer tokens and roles. Only `services/cli/api_commands.py` imports it."""
