"""``pixengine serve``: the web studio.

Only argparse is imported until the command runs, so ``pixengine --help`` stays light; the
server, FastAPI and torch load when ``serve`` is chosen.
"""

from __future__ import annotations

import argparse
import signal
import socket
from pathlib import Path

from .settings import DEFAULT_HOST, DEFAULT_PORT


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "serve", help="start the web studio",
        description="Start the web studio: new runs from presets, live progress, a gallery of every run in the "
                    "outputs folder, remixing. The page and its HTTP API (/openapi.json) are served on --host:--port.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}: this machine only; any other address "
                             "requires a token)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free one)")
    parser.add_argument("--outputs", default="outputs", metavar="DIR",
                        help="the outputs folder: runs are written and found there (default: outputs, as the CLI)")
    parser.add_argument("--workers", type=int, default=1, metavar="N", help="runs at once, each in its own process (default 1)")
    parser.add_argument("--token", help="a token every request must carry (generated and printed when --host is not loopback)")
    parser.set_defaults(func=cmd_serve)
    return parser


def cmd_serve(args: argparse.Namespace) -> int:
    from ..errors import PixengineError
    from .settings import StudioSettings, token_for

    if args.workers < 1:
        raise PixengineError(f"--workers must be at least 1, got {args.workers}")
    try:
        import uvicorn  # noqa: F401

        from .app import create_app
    except ImportError as exc:
        raise PixengineError(f"the web studio needs its extra: pip install 'pixengine[serve]' ({exc})") from None

    settings = StudioSettings(outputs=Path(args.outputs), workers=args.workers, token=token_for(args.host, args.token),
                              host=args.host, port=args.port)
    sock = _listen(args.host, args.port)
    settings.port = sock.getsockname()[1]
    app = create_app(settings)
    print(f"pixengine studio on {address(settings)}", flush=True)
    print(f"  outputs: {settings.outputs}   workers: {settings.workers}   API: /openapi.json   stop: Ctrl-C", flush=True)
    if not settings.loopback:
        print("  reachable from other machines: every request must carry the token above", flush=True)
    # uvicorn stops gracefully on SIGINT and SIGTERM, then raises the signal again: as an
    # exception both times, so the process ends normally (its cleanup runs) after the studio stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        _serve(app, sock)
    except KeyboardInterrupt:
        pass
    return 0


def address(settings) -> str:
    host = settings.host if ":" not in settings.host else f"[{settings.host}]"
    url = f"http://{host}:{settings.port}/"
    return f"{url}?token={settings.token}" if settings.token else url


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the server starts so --port 0 can say its port."""
    from ..errors import PixengineError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PixengineError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _serve(app, sock: socket.socket) -> None:
    import uvicorn

    class StudioServer(uvicorn.Server):
        """Ends the studio's event streams as soon as a stop is asked for, so the server does
        not wait for pages that are still listening."""

        def handle_exit(self, sig, frame):
            app.state.studio.stopping.set()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5)
    StudioServer(config).run(sockets=[sock])
