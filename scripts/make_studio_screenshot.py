"""Re-make docs/studio.png, the README's picture of the web studio, with the end-to-end test's
own code (tests/studio_browser.py): a real `pixengine serve` and Debian's Chromium.

    python scripts/make_studio_screenshot.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from studio_browser import chromium_page, drive, running_server  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        outputs = Path(scratch) / "outputs"
        shots = Path(scratch) / "shots"
        with running_server(outputs) as server, chromium_page(width=1400, height=900) as page:
            drive(page, server.url, preset="strokes_repaint", size=(192, 128), steps=150,
                  prompt="a cat | painterly:0.5", shots=shots)
        target = ROOT / "docs" / "studio.png"
        shutil.copyfile(shots / "02-live.png", target)
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
