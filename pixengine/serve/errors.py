"""One shape for every error the API answers, and no traceback ever.

    {"detail": "one sentence naming the culprit", "errors": [{"key": "losses.tv.weight", "message": "..."}]}

``errors`` lists keyed problems (a form field per key); ``detail`` is always there. Anything
unexpected becomes a 500 with a one-line message; the traceback goes to the server's log only.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

log = logging.getLogger("pixengine.serve")


class ApiError(Exception):
    def __init__(self, status: int, detail: str, errors: list[dict] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []


def keyed(errors: list[tuple[str, str]]) -> "ApiError":
    """A 422 for problems at config keys: [(key, message)]."""
    listed = [{"key": key, "message": message} for key, message in errors]
    summary = "; ".join(f"{key}: {message}".split("\n")[0] for key, message in errors)
    return ApiError(422, summary, listed)


def not_found(what: str) -> ApiError:
    return ApiError(404, what)


def body(detail: str, errors: list[dict] | None = None) -> dict:
    return {"detail": detail, "errors": errors or []}


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return JSONResponse(body(exc.detail, exc.errors), status_code=exc.status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such address: {request.url.path}"
        return JSONResponse(body(detail), status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        errors = []
        for error in exc.errors():
            location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
            errors.append({"key": ".".join(location) or "body", "message": error.get("msg", "invalid")})
        summary = "; ".join(f"{e['key']}: {e['message']}" for e in errors) or "the request is not valid"
        return JSONResponse(body(summary, errors), status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error answering %s %s", request.method, request.url.path)
        return JSONResponse(body(f"the studio failed to answer this request ({type(exc).__name__}); see the server's log"),
                            status_code=500)
