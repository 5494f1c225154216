"""A grid member's console account (bound with --member): works only the cases assigned to
them, as over GraphQL (on both databases)."""

from __future__ import annotations

from hub.accounts.service import create_account
from tests.conftest import Hub
from tests.console import PASSWORD, client, post_form, sign_in
from tests.integration.test_people_work import assigned_case, laiji_people


async def test_a_member_accepts_their_own_case_only(hub: Hub) -> None:
    people = list((await laiji_people(hub)).values())
    mine, other = people[0], people[1]
    case = await assigned_case(hub, mine)
    theirs = await assigned_case(hub, other)
    await create_account(
        hub.db, "m1", PASSWORD, ["member"], ["laiji"], mine["externalId"], "网格员甲"
    )
    async with client(hub) as http:
        assert (await sign_in(http, "m1")).status_code == 303
        page = await http.get(f"/console/cases/{theirs['number']}")
        assert page.status_code == 200 and 'id="form-accept"' not in page.text
        refused = await post_form(
            http,
            f"/console/cases/{theirs['number']}",
            f"/console/cases/{theirs['number']}/actions/accept",
        )
        assert refused.status_code == 403 and "已指派给其他网格员" in refused.text
        page = await http.get(f"/console/cases/{case['number']}")
        assert 'id="form-accept"' in page.text and 'id="form-dispatch"' not in page.text
        done = await post_form(
            http,
            f"/console/cases/{case['number']}",
            f"/console/cases/{case['number']}/actions/accept",
        )
        assert done.status_code == 303
        after = await http.get(f"/console/cases/{case['number']}")
        assert "办理中" in after.text and "网格员甲" in after.text
