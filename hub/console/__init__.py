"""The web console (/console): server-rendered Chinese pages for people (see docs/console.md)."""
