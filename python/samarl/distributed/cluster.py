"""Connecting to Ray: a local cluster sized to the machine, ``auto`` (the cluster this machine
belongs to), or an address (``ray://host:10001`` or ``host:6379``).

Every worker runs torch and the engine on one thread (``SAMARL_NUM_THREADS=1``): a cell is one
task on one CPU, and the cluster's parallelism comes from running cells side by side. The
engine's results do not depend on its thread count (docs/architecture.md), so a cell gives the
same numbers as in the serial run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from samarl.errors import ConfigError, SamarlError

__all__ = [
    "INSTALL_HINT",
    "LOCAL",
    "RayMissingError",
    "check_address",
    "connect",
    "require_ray",
    "session",
]

#: What to run when Ray is missing.
INSTALL_HINT = "pip install 'samarl[ray]'"
#: The ``--ray`` value (no address given) that starts a local cluster sized to the machine.
LOCAL = "local"


class RayMissingError(SamarlError):
    """A ``--ray`` option was given but Ray is not installed."""

    exit_status = 2


def require_ray(what: str = "--ray") -> Any:
    """The ``ray`` module, or :class:`RayMissingError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RayMissingError(
            f"{what}: Ray is not installed; install the extra with: {INSTALL_HINT}"
        ) from None
    return ray


#: ``host:port`` or ``ray://host:port`` (a host name, IPv4 or bracketed IPv6 address).
_ADDRESS = re.compile(r"(ray://)?([A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\]):([0-9]{1,5})")


def check_address(address: str | None) -> str:
    """``address`` if it is :data:`LOCAL` (or None: the same), ``auto`` or ``[ray://]host:port``;
    otherwise a :class:`~samarl.errors.ConfigError` naming ``--ray`` (one line, before anything
    tries to connect)."""
    if address is None or address in (LOCAL, "auto"):
        return address or LOCAL
    m = _ADDRESS.fullmatch(address)
    if m is None or not 0 < int(m.group(3)) < 65536:
        raise ConfigError(
            f"--ray: {address!r} is not a cluster address; give none (a local cluster), 'auto' "
            "or host:port / ray://host:port"
        )
    return address


def worker_env() -> dict[str, str]:
    """Environment variables of every worker: one engine thread, and (for a local cluster) the
    driver's ``PYTHONPATH`` so workers import the same samarl."""
    env = {"SAMARL_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


@contextmanager
def connect(address: str | None = LOCAL, *, num_cpus: int | None = None) -> Iterator[Any]:
    """Connects to Ray for the duration of the ``with`` block and yields the ``ray`` module.

    ``address``: :data:`LOCAL` (or None) starts a local cluster with ``num_cpus`` CPUs (default:
    the machine's); ``auto`` or an address joins a running one. When Ray is already initialised
    (e.g. by a test), that connection is used and left open.
    """
    address = check_address(address)
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
    if address == LOCAL:
        kwargs["num_cpus"] = num_cpus or os.cpu_count() or 1
        kwargs["runtime_env"] = {"env_vars": worker_env()}
    else:
        kwargs["address"] = address
        kwargs["runtime_env"] = {"env_vars": {"SAMARL_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}}
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise SamarlError(f"--ray {address}: cannot connect to the Ray cluster: {e}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


@contextmanager
def session(address: str | None) -> Iterator[Any]:
    """:func:`connect` to ``address`` and yield ``ray``, or yield None when ``address`` is None
    (no ``--ray`` option: the serial path, which never imports Ray)."""
    if address is None:
        yield None
        return
    with connect(address) as ray:
        yield ray
