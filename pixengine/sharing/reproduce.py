"""Will a recipe reproduce the image it came with? Before a run from a PNG, a run folder, a
checkpoint or a bundle, the identities its run recorded (pixengine, torch, device, plugin
versions, the SHA-256 of each weight file) are compared with this machine's, and each
difference that can change the pixels is said, in one list, before anything runs."""

from __future__ import annotations

from typing import Any


def _short(sha: str | None) -> str:
    return (sha or "unknown")[:12]


def differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between a recorded run's identities and the run about to start; both are
    run-document metadata (``pixengine``, ``torch``, ``device``, ``plugins``, ``weights``)."""
    notes = []
    for key, what in (("pixengine", "pixengine"), ("torch", "torch")):
        if recorded.get(key) and recorded.get(key) != current.get(key):
            notes.append(f"{what} {recorded[key]} made it; this is {what} {current.get(key)}")
    there, here = str(recorded.get("device") or ""), str(current.get("device") or "")
    if there and there.split(":")[0] != here.split(":")[0]:
        notes.append(f"it ran on {there}, this run uses {here} (results differ in the last bits between devices)")
    current_plugins = current.get("plugins") or {}
    for name, info in sorted((recorded.get("plugins") or {}).items()):
        info = info or {}
        mine = current_plugins.get(name)
        if mine is None:
            continue  # not used by this run (a missing one already failed validation)
        if info.get("version") != mine.get("version"):
            notes.append(f"plugin '{name}' was {info.get('distribution')} {info.get('version')}; here it is {mine.get('version')}")
    current_weights = current.get("weights") or {}
    for key, files in sorted((recorded.get("weights") or {}).items()):
        mine = current_weights.get(key) or {}
        for name, identity in sorted((files or {}).items()):
            local = mine.get(name)
            if local is None:
                continue
            if (identity or {}).get("sha256") != local.get("sha256"):
                notes.append(
                    f"{key}: the weights '{name}' differ (sha256 {_short((identity or {}).get('sha256'))}... there, "
                    f"{_short(local.get('sha256'))}... here)"
                )
    return notes


def notice(notes: list[str], origin: str) -> str:
    lines = [f"note: the run from {origin} may not reproduce its image bit for bit:"]
    lines += [f"  - {note}" for note in notes]
    return "\n".join(lines)


def missing_plugins(recorded: dict[str, Any], registry) -> list[str]:
    """For each plugin a recorded run used that does not work here: what to install."""
    problems = []
    for name, info in sorted((recorded or {}).items()):
        info = info or {}
        mine = registry.plugins.get(name)
        if mine is not None and mine.ok:
            continue
        dist, version = info.get("distribution"), info.get("version")
        install = f"pip install '{dist}=={version}'" if dist and version else f"install the plugin '{name}'"
        if mine is None:
            problems.append(f"plugin '{name}' ({dist} {version}) is not installed here: {install}")
        else:
            why = "excluded by PIXENGINE_PLUGINS" if mine.skipped else f"it failed to load: {mine.error}"
            problems.append(f"plugin '{name}' is installed but not usable ({why})")
    return problems
