"""A validated run as form fields: every option of every component and settings section, with
its dotted key, type, current value, default, help, choices, bounds, and whether it names an
image file. The page builds its form from this and nothing else, so a third-party plugin's
options get a form without the studio knowing the plugin."""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING
from typing import Any

from ..options import describe, file_options
from ..schema import OptimizerSettings, OutputSettings, RunSettings

#: The run settings the form shows first, in this order.
MAIN_SETTINGS = ("prompt", "width", "height", "steps", "seed")
#: Run settings the form never offers: chosen by the studio, or sections of their own.
HIDDEN_SETTINGS = {"preset", "description", "output_dir", "progress", "optimizer", "outputs", "grow",
                   "parameterization", "augmentations", "losses", "models"}


def plain(value: Any) -> Any:
    """A value as JSON can carry it."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def fields_of(options_cls: type, values: Any, prefix: str, skip: set[str] = frozenset()) -> list[dict]:
    files = file_options(options_cls)
    fields = []
    for info in describe(options_cls):
        if info.name in skip:
            continue
        value = getattr(values, info.name, None) if values is not None else None
        if dataclasses.is_dataclass(value):
            continue  # a nested settings group: shown as its own section
        fields.append({
            "key": f"{prefix}{info.name}",
            "name": info.name,
            "type": info.type,
            "value": plain(value),
            "default": None if info.default is MISSING else plain(info.default),
            "required": info.default is MISSING,
            "help": info.help,
            "choices": plain(info.choices),
            "min": info.min,
            "max": info.max,
            "file": files[info.name].kind if info.name in files else None,
            "file_prefix": files[info.name].prefix if info.name in files else "",
        })
    return fields


def _doc(cls: type) -> str:
    return (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")


def form_of(spec, registry) -> dict:
    """The form of a validated run (a :class:`pixengine.validate.RunSpec`)."""
    settings = spec.settings
    run_fields = fields_of(RunSettings, settings, "", skip=HIDDEN_SETTINGS)
    main = sorted((f for f in run_fields if f["name"] in MAIN_SETTINGS), key=lambda f: MAIN_SETTINGS.index(f["name"]))
    advanced = [f for f in run_fields if f["name"] not in MAIN_SETTINGS]
    sections = [
        {"key": "", "title": "Run", "fields": advanced},
        {"key": "optimizer", "title": "Optimizer",
         "fields": fields_of(OptimizerSettings, settings.optimizer, "optimizer.", skip={"groups"})},
        {"key": "outputs", "title": "Outputs", "fields": fields_of(OutputSettings, settings.outputs, "outputs.")},
    ]
    for section, value in spec.plugin_settings.items():
        options_cls, plugin = registry.settings[section]
        sections.append({"key": section, "title": f"{section} (plugin {plugin})", "fields": fields_of(options_cls, value, f"{section}.")})
    components = []
    for component in spec.components():
        entry = component.entry
        components.append({
            "key": component.key,
            "label": component.label,
            "kind": entry.kind,
            "type": entry.name,
            "plugin": entry.plugin,
            "doc": _doc(entry.cls),
            "fields": fields_of(entry.cls.Options, component.options, f"{component.key}."),
        })
    return {"main": main, "sections": sections, "components": components}
