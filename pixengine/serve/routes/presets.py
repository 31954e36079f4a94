"""Presets and the shipped image assets: what a new run starts from."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from .. import bases, catalog, thumbnails
from ..errors import not_found
from ..models import ERRORS
from ..studio import Studio
from . import get_studio

router = APIRouter(prefix="/api", tags=["presets"], responses=ERRORS)


@router.get("/presets", summary="Every registered preset: name, description, thumbnail")
def list_presets() -> dict:
    return {"presets": [preset.as_dict() for preset in catalog.presets()]}


@router.get("/presets/{name}", summary="A preset's resolved recipe and the option schemas of its components")
def preset_detail(name: str) -> dict:
    if name not in catalog.preset_names():
        raise not_found(f"no preset named '{name}'")
    return bases.describe(bases.preset(name))


@router.get("/presets/{name}/thumbnail", summary="A picture of what the preset makes", response_class=FileResponse)
def preset_thumbnail(name: str, studio: Studio = Depends(get_studio)):
    if name not in catalog.preset_names():
        raise not_found(f"no preset named '{name}'")
    image = catalog.gallery_image(name)
    if image is None:
        newest = studio.index.newest_finished(name)
        final = studio.index.folder_of(newest.id) / "final.png" if newest is not None else None
        if final is None or not final.is_file():
            raise not_found(f"preset '{name}' has no thumbnail yet")
        image = thumbnails.thumbnail(final, studio.thumbs)
    return FileResponse(image, headers={"cache-control": "max-age=300"})


@router.get("/assets", summary="Images shipped with the presets, usable as pkg: references in file options")
def list_assets() -> dict:
    return {"assets": [asset.as_dict() for asset in catalog.assets().values()]}


@router.get("/assets/{path:path}", summary="One shipped image asset", response_class=FileResponse)
def asset(path: str):
    found = catalog.assets().get(f"pkg:{path}")
    if found is None:
        raise not_found(f"no shipped asset 'pkg:{path}'")
    return FileResponse(found.path, headers={"cache-control": "max-age=3600"})
