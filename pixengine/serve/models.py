"""The JSON bodies of the HTTP API, declared so /openapi.json documents them."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["queued", "running", "finished", "interrupted", "failed"]


class RunRequest(BaseModel):
    """A new run: from a preset (``preset``), or from a gallery run or a dropped recipe (``recipe``)."""

    model_config = ConfigDict(extra="forbid")

    preset: Optional[str] = Field(None, description="a registered preset name (GET /api/presets)", examples=["repaint"])
    recipe: Optional[str] = Field(None, description="instead of a preset: 'run:ID' (a gallery run: Re-run, Remix) or "
                                                    "'dropped:SHA256' (a recipe sent to POST /api/recipes)")
    prompt: Optional[str] = Field(None, description="the run's prompt, in pixengine's prompt grammar")
    overrides: dict[str, Any] = Field(default_factory=dict, description="dotted config keys to values, e.g. "
                                      "{\"steps\": 50, \"losses.smooth.weight\": 0.2}; a file option takes "
                                      "'upload:SHA256' (POST /api/uploads) or a pkg: asset (GET /api/assets)",
                                      examples=[{"width": 64, "height": 64, "steps": 20}])
    override_lines: list[str] = Field(default_factory=list, description="more overrides as the CLI takes them: "
                                      "'key=value' with the value read as YAML")
    count: int = Field(1, description="how many runs, with seeds counting up from the first")


class RunCreated(BaseModel):
    id: str = Field(description="the new run's id (the first, when count > 1)")
    ids: list[str] = Field(description="every run queued")


class CheckResult(BaseModel):
    ok: bool
    preset: str
    steps: int
    width: int
    height: int
    seed: Any


class PromptText(BaseModel):
    text: str = Field(description="prompt text to check against the grammar")


class ResumeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: Optional[int] = Field(None, ge=1, description="go on to this many steps (to extend a finished run)")


class RunInfo(BaseModel):
    """A run as the gallery and the live view show it."""

    id: str
    status: Status
    preset: str
    prompt: str
    seed: Any = None
    step: int
    steps: int
    total: Optional[float] = None
    losses: dict[str, float] = Field(default_factory=dict, description="each loss's weighted value at the last step")
    seconds: Optional[float] = Field(None, description="seconds the steps took so far")
    seconds_per_step: Optional[float] = None
    eta: Optional[float] = Field(None, description="seconds left, at the recent rate")
    started: Optional[str] = None
    width: Optional[int] = None
    height: Optional[int] = None
    files: list[str] = Field(default_factory=list)
    resumable: bool = False
    error: Optional[str] = None
    origin: str
    detail: Optional[str] = None
    queue_position: Optional[int] = Field(None, description="0: running now, 1: next, ...")
    urls: dict[str, str] = Field(default_factory=dict)
    step_images: list[str] = Field(default_factory=list)
    shareable: bool = False


class Problem(BaseModel):
    key: str
    message: str


class ErrorBody(BaseModel):
    detail: str
    errors: list[Problem] = Field(default_factory=list)


#: The error answers each route documents.
ERRORS = {status: {"model": ErrorBody} for status in (401, 403, 404, 409, 413, 415, 422)}
