"""A run request from the page (or any HTTP client), checked by pixengine's own validator and
turned into jobs.

Checking a request (:func:`check`, also what the form's live validation calls):

1. the base must be a registered preset name, a gallery run or a dropped recipe, never a path;
2. the prompt must parse (:func:`pixengine.prompts.parse_prompts`);
3. overrides are dotted keys with JSON values, plus optional ``key=value`` lines read exactly as
   the CLI reads them; ``output_dir``, ``preset`` and ``prompt`` are the studio's to set;
4. ``upload:SHA`` in a value names a staged upload (an unknown one is an error at its key);
5. :func:`pixengine.resolve` validates the whole run; when a problem is at an override's key,
   that override is set aside and the rest checked again, so one answer lists every bad field;
6. each file an override names must be a staged upload or a shipped ``pkg:`` asset.

Submitting (:func:`submit`) then makes each run's folder, copies its uploads (and, for a run
from a gallery run or a dropped recipe, the files that recipe used) into ``RUN/inputs/``, points
the options at those copies, checks the result once more, and records the request in
``studio.json`` before the job is queued.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from .. import config as config_module
from ..errors import ConfigError
from ..options import file_options
from ..prompts import parse_prompts
from ..resources import PACKAGE_SCHEME, resolve_path
from ..sharing.paths import declared_files
from . import bases, catalog, folders
from .bases import Base
from .errors import keyed
from .option_schema import plain
from .uploads import UPLOAD_REF, Upload, UploadRefused, UploadStore

#: Keys the studio sets itself; a request may not.
RESERVED = {"output_dir": "the studio chooses each run's folder", "preset": "choose the preset with 'preset'",
            "prompt": "give the prompt with 'prompt'"}
#: Rounds of "set the culprit aside and check again" before answering with what was found.
MAX_ROUNDS = 20


@dataclass
class Checked:
    base: Base
    prompt: str | None
    #: Dotted key -> value, uploads named by their staged paths.
    overrides: dict[str, Any]
    #: Staged path -> upload, for every upload the overrides use.
    uploads: dict[str, Upload] = field(default_factory=dict)
    spec: Any = None


def merged_overrides(overrides: dict[str, Any] | None, lines: list[str] | None) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """One mapping of dotted keys from typed values and CLI-style ``key=value`` lines."""
    result: dict[str, Any] = dict(overrides or {})
    errors: list[tuple[str, str]] = []
    for line in lines or []:
        try:
            parsed = config_module.parse_overrides([line])
        except ConfigError as exc:
            errors.append((exc.key or "overrides", exc.detail))
            continue
        key = line.split("=", 1)[0].strip()
        result[key] = plain(_select(parsed, key))
    return result, errors


def _select(cfg, key: str) -> Any:
    value = OmegaConf.select(cfg, key, throw_on_missing=False)
    return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value


def _substitute_uploads(value: Any, key: str, store: UploadStore, used: dict[str, Upload], errors: list) -> Any:
    """``value`` with each ``upload:SHA`` replaced by the staged file's path."""
    if isinstance(value, dict):
        return {_substitute_uploads(k, key, store, used, errors): _substitute_uploads(v, key, store, used, errors)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_uploads(v, key, store, used, errors) for v in value]
    if not isinstance(value, str) or "upload:" not in value:
        return value

    def replace(match) -> str:
        upload = store.get(match.group(1))
        if upload is None:
            errors.append((key, f"no upload '{match.group(0)[:19]}...' on this server; upload the image again"))
            return match.group(0)
        used[str(upload.path)] = upload
        return str(upload.path)

    return UPLOAD_REF.sub(replace, value)


def _culprits(key: str, overrides: dict[str, Any]) -> list[str]:
    """The overrides responsible for a problem at ``key`` (the key itself, a parent or a child)."""
    return [k for k in overrides if k == key or key.startswith(k + ".") or k.startswith(key + ".")]


def _resolve(base: Base, prompt: str | None, overrides: dict[str, Any]):
    import pixengine

    return pixengine.resolve(base.recipe, prompt, overrides=overrides)


def check(base: Base, prompt: str | None, overrides: dict[str, Any] | None, lines: list[str] | None,
          store: UploadStore) -> Checked:
    """The request checked (see the module's docstring); a 422 listing every problem found."""
    errors: list[tuple[str, str]] = []
    if prompt is not None:
        try:
            parse_prompts(prompt, key="prompt")
        except ConfigError as exc:
            errors.append(("prompt", exc.detail))
    merged, line_errors = merged_overrides(overrides, lines)
    errors += line_errors
    checked: dict[str, Any] = {}
    used: dict[str, Upload] = {}
    for key, value in merged.items():
        if key in RESERVED:
            errors.append((key, f"'{key}' cannot be overridden here: {RESERVED[key]}"))
            continue
        checked[key] = _substitute_uploads(value, key, store, used, errors)
    spec = None
    remaining = {k: v for k, v in checked.items() if not any(k == e[0] for e in errors)}
    for _ in range(MAX_ROUNDS):
        try:
            spec = _resolve(base, None if any(k == "prompt" for k, _ in errors) else prompt, remaining)
            break
        except ConfigError as exc:
            key = exc.key or _key_in_message(exc.detail, remaining) or "overrides"
            errors.append((key, exc.detail))
            culprits = _culprits(key, remaining)
            if not culprits:
                break
            for culprit in culprits:
                remaining.pop(culprit)
    if spec is not None:
        errors += _file_problems(spec, set(used))
    if errors:
        raise keyed(_unique(errors))
    return Checked(base=base, prompt=prompt, overrides=checked, uploads=used, spec=spec)


def _key_in_message(message: str, overrides: dict[str, Any]) -> str | None:
    for key in overrides:
        if f"'{key}'" in message:
            return key
    return None


def _unique(errors: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen, result = set(), []
    for error in errors:
        if error not in seen:
            seen.add(error)
            result.append(error)
    return result


def _file_problems(spec, allowed_paths: set[str]) -> list[tuple[str, str]]:
    """Files the request itself named (the studio's overrides) that are neither a staged upload
    nor a shipped asset: the browser never names a file on the server."""
    problems = []
    assets = catalog.assets()
    for key, path in declared_files(spec):
        if spec.loaded is None or spec.loaded.source_of(key) != config_module.COMMAND_LINE:
            continue  # the preset's own, or checked by pixengine as a shared recipe's
        if path in allowed_paths or (path.startswith(PACKAGE_SCHEME) and path in assets):
            continue
        what = "a pkg: file that is not a shipped image asset" if path.startswith(PACKAGE_SCHEME) else "a path on the server"
        problems.append((key, f"'{path}' is {what}; a file option takes an uploaded image (upload:...) or one of the "
                              "shipped pkg: assets (GET /api/assets)"))
    return problems


# -- from a checked request to jobs ------------------------------------------------------------


def submit(checked: Checked, outputs: Path, store: UploadStore, *, count: int = 1) -> list[dict]:
    """Make the run folders and jobs of a checked request (``count`` seeds counting up)."""
    from ..seed_variations import variation_seed

    seed = checked.spec.config.seed
    jobs = []
    for index in range(count):
        overrides = dict(checked.overrides)
        if count > 1 or "seed" not in overrides:
            overrides["seed"] = plain(variation_seed(seed, index))  # the seed it will use, also after a restart
        jobs.append(_make_job(checked, overrides, outputs, store))
    return jobs


def _make_job(checked: Checked, overrides: dict[str, Any], outputs: Path, store: UploadStore) -> dict:
    preset = checked.spec.settings.preset
    folder = folders.new_run_folder(outputs, preset)
    try:
        copies = {path: str(store.copy_into(upload, folder)) for path, upload in checked.uploads.items()}
        overrides = {key: _replace_paths(value, copies) for key, value in overrides.items()}
        overrides["output_dir"] = str(folder)
        spec = _resolve(checked.base, checked.prompt, overrides)
        if checked.base.kind != "preset":
            overrides.update(_own_copies(spec, folder, store))
            spec = _resolve(checked.base, checked.prompt, overrides)
    except (ConfigError, UploadRefused) as exc:
        folders.remove_unstarted(folder)
        key = getattr(exc, "key", None) or "recipe"
        raise keyed([(key, str(exc))]) from None
    except BaseException:
        folders.remove_unstarted(folder)
        raise
    job = {"id": folders.run_id(outputs, folder), "folder": str(folder), "kind": "run", "recipe": checked.base.recipe,
           "base": checked.base.name, "prompt": checked.prompt, "overrides": overrides}
    settings = spec.settings
    folders.write_studio(folder, {"studio": 1, "created": folders.now(), "state": "queued", "request": job,
                                  "preset": settings.preset, "prompt": settings.prompt, "steps": settings.steps,
                                  "width": settings.width, "height": settings.height, "seed": plain(spec.config.seed)})
    return job


def _replace_paths(value: Any, copies: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {_replace_paths(k, copies): _replace_paths(v, copies) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_paths(v, copies) for v in value]
    if isinstance(value, str):
        for old, new in copies.items():
            value = value.replace(old, new)
    return value


def _own_copies(spec, folder: Path, store: UploadStore) -> dict[str, Any]:
    """Overrides pointing a shared recipe's files (already allowed by pixengine) at copies in
    the new run's ``inputs/``, so every run folder holds what it needs to be re-run."""
    overrides = {}
    for component in spec.components():
        for name, declared in file_options(type(component.options)).items():
            value = getattr(component.options, name)
            key = f"{component.key}.{name}"
            if spec.loaded is not None and spec.loaded.source_of(key) == config_module.COMMAND_LINE:
                continue  # the request's own upload, already copied
            copies = {}
            for path in declared.paths_in(value):
                if path.startswith(PACKAGE_SCHEME):
                    continue
                upload = store.import_file(resolve_path(path), f"'{Path(path).name}' ({key})")
                copies[path] = str(store.copy_into(upload, folder))
            if copies:
                overrides[key] = plain(declared.replace(value, copies))
    return overrides


def base_of(preset: str | None, recipe: str | None, index, dropped: bases.DroppedRecipes) -> Base:
    """The base a request names: ``preset`` (a registered name) or ``recipe`` (run:ID, dropped:SHA)."""
    if (preset is None) == (recipe is None):
        raise keyed([("preset", "give a preset name, or a recipe (run:ID or dropped:SHA), not both or neither")])
    if preset is not None:
        return bases.preset(preset)
    kind, _, ref = recipe.partition(":")
    if kind == "run" and ref:
        return bases.of_run(ref, index.folder_of(ref))
    if kind == "dropped" and ref:
        return dropped.base(ref)
    raise keyed([("recipe", f"'{recipe}' is not a recipe this studio knows: give run:ID or dropped:SHA")])
