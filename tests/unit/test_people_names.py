"""People are shown by name: a token's holder reads as its `name` claim, and the demo's tokens
carry Chinese names (not "demo-member")."""

from __future__ import annotations

from hub.auth import principal_from_jwt
from hub.cli import _demo_tokens
from hub.config import Settings
from hub.roles import Role


def test_every_demo_token_names_its_holder_in_chinese() -> None:
    settings = Settings(_env_file=None, secret_key="k" * 32)
    for role, token in _demo_tokens(settings).items():
        holder = principal_from_jwt(token, settings.signing_key())
        assert holder.name.startswith("演示") and "demo" not in holder.name, (role, holder.name)
        assert holder.id == f"jwt:demo-{role.lower()}"  # the id stays what machines know
    member = principal_from_jwt(_demo_tokens(settings)[Role.MEMBER.value], settings.signing_key())
    assert member.name == "演示网格员"


def test_the_simulated_call_system_is_named() -> None:
    from connectors.hotline.simulator import demo_hotline_token

    key = "k" * 32
    holder = principal_from_jwt(demo_hotline_token(key, hours=1), key)
    assert holder.name == "12369热线（模拟）" and holder.roles == {Role.HOTLINE}
