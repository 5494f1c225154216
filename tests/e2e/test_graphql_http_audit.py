"""The GraphQL-over-HTTP conformance audits (npm graphql-http, serverAudits) against a live
`sanwang serve`: every MUST and every SHOULD passes."""

from __future__ import annotations

import json

from tests.e2e.node import LiveHub, node


def test_every_must_and_should_audit_passes(live_hub: LiveHub) -> None:
    done = node("audit.mjs", f"{live_hub.url}/graphql", live_hub.token())
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    failed = [r for r in results if r["status"] != "ok" and not r["name"].startswith("MAY")]
    assert results and not failed, json.dumps(failed, ensure_ascii=False, indent=1) + done.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    assert any(r["id"] == "22EB" and r["status"] == "ok" for r in results)  # the media type
