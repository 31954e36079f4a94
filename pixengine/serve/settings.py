"""What a studio server was started with."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
#: The folder inside the outputs folder where the studio keeps what it can rebuild or re-make.
STATE_FOLDER = ".studio"


@dataclass
class StudioSettings:
    #: The outputs folder: where runs are written and looked for (the CLI's ``outputs/``).
    outputs: Path
    #: Worker processes running jobs at once (0: none, jobs stay queued; for tests).
    workers: int = 1
    #: Every request must carry it when set (always when bound beyond loopback).
    token: str | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    #: An uploaded image: at most this many bytes, and this many pixels once decoded.
    max_upload_bytes: int = 25 * 1024 * 1024
    max_upload_pixels: int = 40_000_000
    #: A JSON request body (a run's overrides) at most this many bytes.
    max_json_bytes: int = 1024 * 1024
    #: Runs one request may queue (a batch of seeds).
    max_batch: int = 16
    #: Seconds a stopping server waits for running jobs to write their image and checkpoint.
    stop_timeout: float = 60.0

    def __post_init__(self) -> None:
        self.outputs = Path(self.outputs).expanduser().absolute()

    @property
    def state_folder(self) -> Path:
        """What the studio can rebuild or re-make: the index, staged uploads, thumbnails."""
        return self.outputs / STATE_FOLDER

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def token_for(host: str, token: str | None) -> str | None:
    """The token a server on ``host`` requires: the one given, else a new one when ``host`` is
    not loopback (other machines can reach it), else none."""
    if token:
        return token
    return None if is_loopback(host) else secrets.token_urlsafe(24)
