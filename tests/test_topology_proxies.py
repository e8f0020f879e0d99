"""`PROMPTKIT_TRUSTED_PROXIES`: X-Forwarded-For and X-Forwarded-Proto believed only from the
peers listed, as the access log shows; from anyone else, and by default, they are ignored."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from promptkit.app import PromptkitApp
from promptkit.settings import Settings

FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


async def _logged(
    make_app: Callable[..., PromptkitApp],
    caplog: pytest.LogCaptureFixture,
    peer: str,
    headers: dict[str, str],
    **settings: Any,
) -> tuple[str, str]:
    """The client address and scheme that the access line of one request shows."""
    app = make_app(**settings)
    caplog.set_level(logging.INFO, logger="promptkit.access")
    async with app.test_app():
        response = await app.test_client().get(
            "/health", headers=headers, scope_base={"client": (peer, 50000)}
        )
    assert response.status_code == 200
    (line,) = [record for record in caplog.records if record.name == "promptkit.access"]
    return line.client, line.scheme  # type: ignore[attr-defined]


async def test_a_trusted_proxy_forwards_the_client_and_its_scheme(make_app, caplog) -> None:
    logged = await _logged(make_app, caplog, "10.0.0.5", FORWARDED, trusted_proxies=("10.0.0.0/8",))
    assert logged == ("203.0.113.7", "https")


async def test_an_untrusted_peer_cannot_claim_another_address(make_app, caplog) -> None:
    logged = await _logged(
        make_app, caplog, "192.0.2.1", FORWARDED, trusted_proxies=("10.0.0.0/8",)
    )
    assert logged == ("192.0.2.1", "http")


async def test_nothing_is_trusted_by_default(make_app, caplog) -> None:
    assert await _logged(make_app, caplog, "127.0.0.1", FORWARDED) == ("127.0.0.1", "http")


async def test_a_chain_of_proxies_yields_the_first_untrusted_hop(make_app, caplog) -> None:
    """A client writes its own X-Forwarded-For; each proxy appends the peer it saw. The address
    the client wrote (leftmost) is not believed: the last one a trusted proxy added is."""
    chain = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7, 10.0.0.9"}
    logged = await _logged(make_app, caplog, "10.0.0.5", chain, trusted_proxies=("10.0.0.0/8",))
    assert logged[0] == "203.0.113.7"


def test_the_setting_takes_cidrs_and_addresses() -> None:
    settings = Settings.from_env({"PROMPTKIT_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7,::1"})
    assert settings.trusted_proxies == ("10.0.0.0/8", "192.168.1.7/32", "::1/128")
    assert Settings.from_env({}).trusted_proxies == ()


@pytest.mark.parametrize("value", ["10.0.0.0/33", "proxy.internal", "10.0.0.0/8,*"])
def test_a_typo_stops_start_up_naming_the_setting(value: str) -> None:
    with pytest.raises(ValueError, match="PROMPTKIT_TRUSTED_PROXIES"):
        Settings.from_env({"PROMPTKIT_TRUSTED_PROXIES": value})
