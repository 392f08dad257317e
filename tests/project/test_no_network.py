"""Nothing opens a socket at run time: a shipped model of each family (general: nuts; chains: the
particle filter; mixtures: em; diffusion: ddrm, loading the shipped network's weights) compiles,
binds its data and samples with every way of making a socket made to fail.  (Installing is the
only step that may reach a network.)"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

import augury

EX = Path(__file__).resolve().parents[2] / "examples"


class NoNetwork(AssertionError):
    pass


@pytest.fixture
def no_sockets(monkeypatch):
    attempts: list = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise NoNetwork(f"a socket was opened at run time: {args!r}")

    class Socket(socket.socket):
        def __init__(self, *args, **kwargs):
            refuse(*args)

    monkeypatch.setattr(socket, "socket", Socket)
    for name in ("create_connection", "getaddrinfo", "gethostbyname", "socketpair", "fromfd"):
        monkeypatch.setattr(socket, name, refuse)
    yield attempts
    assert not attempts, attempts


CASES = {  # example: its method's settings, small enough for a test
    "eight_schools": ("nuts", dict(warmup=100, samples=100, chains=2)),
    "stochastic_volatility": ("particle_filter", dict(particles=200, paths=10)),
    "directions": ("em", dict(restarts=1)),
    "inpaint_digits": ("ddrm", dict(particles=4, steps=20)),
}


@pytest.mark.slow
@pytest.mark.parametrize("example", list(CASES))
def test_every_family_runs_with_sockets_blocked(example, no_sockets):
    method, settings = CASES[example]
    model = augury.compile(EX / f"{example}.aug")
    post = model.sample(str(EX / f"{example}.json"), method=method, seed=0, **settings)
    assert post.num_samples > 0


def test_the_block_is_real(no_sockets):
    """The fixture does refuse (else the test above could not fail)."""
    with pytest.raises(NoNetwork):
        socket.socket()
    with pytest.raises(NoNetwork):
        socket.create_connection(("127.0.0.1", 9), timeout=1)  # what urllib and friends call
    no_sockets.clear()
