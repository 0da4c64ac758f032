"""Fixtures for the probe engine: a Prober and real sockets, no Home Assistant."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
import gc
from pathlib import Path
import socket

import pytest

from custom_components.tls_health.probe import Prober
from tests.loop_cpu import LongestCallback, longest_loop_callback

FDS = Path("/proc/self/fd")
STDIO = {0, 1, 2}  # pytest's output capture points them elsewhere during setup
_OPEN_BEFORE = pytest.StashKey[dict[int, str]]()


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """The probe engine imports nothing of Home Assistant: no `hass` here."""


@pytest.fixture(autouse=True)
def _sockets(socket_enabled: None) -> None:
    """Real sockets on loopback for every probe test."""


@pytest.fixture
async def prober() -> Prober:
    return await Prober.create()


def ipv6_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


# -- no file descriptor outlives its test --------------------------------------------------------


def open_fds() -> dict[int, str]:
    """This process's open descriptors and what they point at (`socket:[inode]`, a path)."""
    opened: dict[int, str] = {}
    for entry in list(FDS.iterdir()):
        try:
            opened[int(entry.name)] = str(entry.readlink())
        except FileNotFoundError:  # the listing's own descriptor, closed by now
            continue
    return opened


def _sockets_by_inode() -> dict[str, str]:
    """`socket:[inode]` to `local -> remote` for this process's TCP sockets, for the message."""
    found: dict[str, str] = {}
    for table in ("tcp", "tcp6"):
        path = Path("/proc/self/net", table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            found[f"socket:[{inode}]"] = (
                f"{table} port {int(local.rsplit(':', 1)[1], 16)} -> "
                f"port {int(remote.rsplit(':', 1)[1], 16)}"
            )
    return found


@pytest.fixture(autouse=True)
def _no_leaked_fds(request: pytest.FixtureRequest) -> None:
    """Note the open descriptors once the session and module fixtures stand.

    The comparison runs in pytest_runtest_teardown below, after every function fixture (event
    loop, servers, prober) is torn down: a fixture's own teardown would run before the loop's.
    """
    if FDS.is_dir():
        request.node.stash[_OPEN_BEFORE] = open_fds()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None]:
    """Fail a test that leaves a descriptor open (each xdist worker checks its own process)."""
    yield
    before = item.stash.get(_OPEN_BEFORE, None)
    if before is None:
        return
    gc.collect()
    leaked = {
        fd: target
        for fd, target in open_fds().items()
        if fd not in STDIO and before.get(fd) != target
    }
    if leaked:
        sockets = _sockets_by_inode()
        described = ", ".join(
            f"{fd} -> {target} {sockets.get(target, '')}".rstrip()
            for fd, target in sorted(leaked.items())
        )
        pytest.fail(f"file descriptors left open: {described}", pytrace=False)


# -- no event-loop callback burns the CPU ---------------------------------------------------------

# CPU time of one callback on the loop's thread. Measured at about 35 ms at most (the 100-certificate
# chain, judged inline) on a loaded 2-core machine, with xdist and with coverage.
MAX_CALLBACK_CPU = 0.25


@dataclass(slots=True)
class CallbackWatch:
    longest: LongestCallback
    limit: float = MAX_CALLBACK_CPU  # a test may tighten it


@pytest.fixture
def loop_stall_watch() -> Iterator[CallbackWatch]:
    """Fail a test in which one event-loop callback burns more than its limit of CPU time."""
    with longest_loop_callback() as longest:
        watch = CallbackWatch(longest)
        yield watch
    assert longest.cpu < watch.limit, (
        f"a loop callback used {longest.cpu * 1000:.0f} ms of CPU: {longest.handle}"
    )
