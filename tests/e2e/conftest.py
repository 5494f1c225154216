"""Fixtures of the end-to-end tests."""

from tests.e2e.node import live_hub as live_hub  # a `sanwang serve` for the Node clients
