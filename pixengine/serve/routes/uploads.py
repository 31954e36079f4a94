"""Images and recipes the browser sends: the body is the file itself (no form encoding)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from .. import bases
from ..errors import ApiError, not_found
from ..models import ERRORS
from ..studio import Studio
from ..uploads import UploadRefused
from . import get_studio

router = APIRouter(prefix="/api", tags=["uploads"], responses=ERRORS)

_BINARY_BODY = {"requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


async def _body(request: Request, limit: int) -> bytes:
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise ApiError(413, f"the file is more than the {limit} bytes allowed")
    return bytes(data)


@router.post("/uploads", summary="Upload an image for a file option (the body is the image file)", openapi_extra=_BINARY_BODY)
async def upload(request: Request, studio: Studio = Depends(get_studio)) -> dict:
    data = await _body(request, studio.settings.max_upload_bytes)
    try:
        stored = await run_in_threadpool(studio.uploads.add, data)
    except UploadRefused as exc:
        raise ApiError(exc.status, str(exc)) from None
    return stored.as_dict()


@router.get("/uploads/{sha}", summary="An uploaded image, as stored (PNG)", response_class=FileResponse)
def uploaded(sha: str, studio: Studio = Depends(get_studio)):
    found = studio.uploads.get(sha)
    if found is None:
        raise not_found(f"no upload '{sha[:16]}' on this server")
    return FileResponse(found.path, media_type="image/png")


@router.post("/recipes", summary="Read a dropped file: a PNG written by pixengine or a bundle gives its recipe and form; "
             "any other image is offered as an image input", openapi_extra=_BINARY_BODY)
async def read_recipe(request: Request, studio: Studio = Depends(get_studio)) -> dict:
    data = await _body(request, studio.settings.max_upload_bytes)
    return await run_in_threadpool(_read, studio, data)


def _read(studio: Studio, data: bytes) -> dict:
    kind = studio.dropped.kind_of(data)
    if kind is not None:
        sha, path = studio.dropped.add(data)
        if kind == "zip" or bases.has_recipe(path):
            described = bases.describe(studio.dropped.base(sha))
            if kind == "png":
                described["image"] = _as_image(studio, data)
            return {"recipe": described, "image": described.get("image")}
        path.unlink(missing_ok=True)  # a PNG without a recipe (a screenshot): only an image
    return {"recipe": None, "image": _as_image(studio, data)}


def _as_image(studio: Studio, data: bytes) -> dict:
    try:
        return studio.uploads.add(data, "the dropped file").as_dict()
    except UploadRefused as exc:
        raise ApiError(exc.status, f"{exc}; drop a PNG written by pixengine, a bundle .zip or an image") from None
