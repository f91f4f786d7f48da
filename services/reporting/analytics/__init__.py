"""Reporting's analytics feed: de-identified case facts on cases.analytics.v1.

facts.py is pure (fold state -> fact); agent.py is the faust worker that publishes them.
Importing this package does not import faust.
"""
