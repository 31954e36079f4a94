"""The sweep's contact sheet: results laid out by the axes, one column per value of one axis
(the last that varies, or ``sheet: {columns: AXIS}``) and one row per combination of the
others, both labelled; runs without an image show their status. Large sweeps get pages
(``sheet.png``, ``sheet-2.png``...). A sweep whose column axis is very long is laid out as a
labelled grid instead."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ..outputs import save_png

SHEET_NAME = "sheet.png"
CELL = 128
PAD = 6
ROWS_PER_PAGE = 12
MAX_COLUMNS = 12
FLAT_COLUMNS = 8
LABEL_CHARS = 48


def _short(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 3] + "..."


def _thumbnail(root: Path, line: dict) -> Image.Image:
    final = line.get("final")
    if final and line["status"] != "pending":
        try:
            with Image.open(root / final) as image:
                image = image.convert("RGB")
            scale = CELL / max(image.size)
            return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.LANCZOS)
        except OSError:
            pass
    return Image.new("RGB", (CELL, CELL), (200, 200, 200))


def _status_text(line: dict) -> str:
    if line["status"] == "pruned":
        return f"pruned at {line.get('pruned_at')}"
    if line["status"] == "finished":
        return f"{line['total']:.4g}" if isinstance(line.get("total"), (int, float)) else ""
    return f"{line['status']} {line.get('step', 0)}/{line.get('steps') or '?'}"


def column_axis(axes: list[dict], wanted: str | None) -> str | None:
    varying = [axis["name"] for axis in axes if len(axis["labels"]) > 1]
    if wanted and any(axis["name"] == wanted for axis in axes):
        return wanted
    return varying[-1] if varying else None


def _page(root: Path, rows: list[tuple[str, list[dict | None]]], headers: list[str], font) -> Image.Image:
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    row_label = max([probe.textlength(label, font=font) for label, _ in rows] + [0])
    left = int(row_label) + 2 * PAD if row_label else PAD
    top = 18 + PAD if headers else PAD
    columns = max(len(cells) for _, cells in rows)
    cell_h = CELL + 16
    sheet = Image.new("RGB", (left + columns * (CELL + PAD), top + len(rows) * (cell_h + PAD)), "white")
    draw = ImageDraw.Draw(sheet)
    for c, header in enumerate(headers):
        draw.text((left + c * (CELL + PAD), PAD), _short(header), fill="black", font=font)
    for r, (label, cells) in enumerate(rows):
        y = top + r * (cell_h + PAD)
        draw.text((PAD, y + CELL // 2), label, fill="black", font=font)
        for c, line in enumerate(cells):
            if line is None:
                continue
            x = left + c * (CELL + PAD)
            image = _thumbnail(root, line)
            sheet.paste(image, (x, y))
            text = _status_text(line) if headers else f"{_short(', '.join(line['axes'].values()) or line['id'])} {_status_text(line)}"
            draw.text((x, y + image.height + 2), _short(text)[:24 if not headers else LABEL_CHARS], fill="black", font=font)
    return sheet


def write(root: Path, record: dict, entries: list[dict]) -> list[Path]:
    """Write the sheet's pages; returns their paths."""
    font = ImageFont.load_default()
    axes = record.get("axes") or []
    column = column_axis(axes, record.get("columns"))
    labels = next((axis["labels"] for axis in axes if axis["name"] == column), [])
    if column is not None and len(labels) <= MAX_COLUMNS:
        rows: dict[str, list[dict | None]] = {}
        for line in entries:
            key = ", ".join(_short(value) for name, value in line["axes"].items() if name != column)
            cells = rows.setdefault(key, [None] * len(labels))
            cells[labels.index(line["axes"][column])] = line
        headers = labels
        row_items = list(rows.items())
    else:  # one long axis (or none): a grid of labelled cells
        headers = []
        row_items = [("", entries[i : i + FLAT_COLUMNS]) for i in range(0, len(entries), FLAT_COLUMNS)]
    paths = []
    for page, start in enumerate(range(0, len(row_items), ROWS_PER_PAGE), 1):
        name = SHEET_NAME if page == 1 else f"sheet-{page}.png"
        paths.append(save_png(root / name, _page(root, row_items[start : start + ROWS_PER_PAGE], headers, font)))
    for stale in root.glob("sheet-*.png"):
        if stale not in paths:
            stale.unlink()  # fewer pages than the last time it was written
    return paths
