"""docs/subscriptions.md's client settings, run with the reference client (npm graphql-ws)
against a live `sanwang serve`: one caseEvents event arrives after a registerCase."""

from __future__ import annotations

import json

from tests.e2e.node import LiveHub, node


def test_the_documented_graphql_ws_client_receives_a_case_event(live_hub: LiveHub) -> None:
    done = node("subscribe.mjs", f"{live_hub.url}/graphql", live_hub.token())
    assert done.returncode == 0, done.stdout + done.stderr
    said = json.loads(done.stdout.strip().splitlines()[-1])
    assert said["event"]["case"]["title"] == said["title"], said
    assert said["event"]["kind"], said
    assert said["caughtUp"] and said["caughtUp"][0] >= 0, "caseChanges was read on connect"
