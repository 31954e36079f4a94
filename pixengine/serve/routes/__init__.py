"""The HTTP API, one module per resource; each route parses, calls one Studio method, answers."""

from __future__ import annotations

from fastapi import Request

from ..studio import Studio


def get_studio(request: Request) -> Studio:
    return request.app.state.studio
