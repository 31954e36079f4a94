"""A real `pixengine serve` on loopback, and Debian's Chromium driven by Playwright, for the
studio's end-to-end test, its benchmarks and the README's screenshot (scripts/
make_studio_screenshot.py uses :func:`drive` as the test does)."""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = os.environ.get("PIXENGINE_CHROMIUM", "/usr/bin/chromium")
#: Flags Chromium needs here: root, no GPU, no network (Playwright adds a fresh --user-data-dir).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("PIXENGINE_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "serve"


class Server:
    def __init__(self, process: subprocess.Popen, url: str, lines: list[str]):
        self.process = process
        self.url = url
        self.lines = lines

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self, sig=signal.SIGINT, timeout: float = 90) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


@contextmanager
def running_server(outputs: Path, *args: str, timeout: float = 60):
    """``pixengine serve`` on 127.0.0.1 and a free port, stopped (Ctrl-C) at the end."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pixengine", "serve", "--host", "127.0.0.1", "--port", "0", "--outputs", str(outputs), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=outputs.parent,
    )
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        for line in process.stdout:
            lines.append(line)
            if "http://" in line:
                found.set()

    threading.Thread(target=read, daemon=True).start()
    if not found.wait(timeout):
        process.kill()
        raise RuntimeError(f"pixengine serve printed no address within {timeout} s:\n{''.join(lines)}")
    url = re.search(r"http://\S+", "".join(lines)).group(0)
    server = Server(process, url, lines)
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def chromium_page(width: int = 1400, height: int = 1000):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.problems = []
            page.on("pageerror", lambda error: page.problems.append(f"page error: {error}"))
            page.on("console", lambda message: page.problems.append(f"console: {message.text}")
                    if message.type == "error" and "status of 422" not in message.text else None)
            yield page
        finally:
            browser.close()


def drop_file(page, data: bytes, name: str, mime: str = "image/png") -> None:
    """Drop a file on the page as a person dragging it from their desktop would."""
    page.evaluate(
        """([b64, name, mime]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: mime }));
            for (const type of ["dragenter", "dragover", "drop"]) {
                document.body.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: transfer }));
            }
        }""",
        [base64.b64encode(data).decode("ascii"), name, mime],
    )


def shoot(page, name: str, folder: Path = ARTIFACTS, full_page: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    page.screenshot(path=str(path), full_page=full_page)
    return path


def drive(page, url: str, *, preset: str = "repaint", size=(64, 64), steps: int = 60, prompt: str = "a cat, in oils",
          shots: Path = ARTIFACTS) -> dict:
    """Load the studio, start a run from the form, watch it finish; its id and timings."""
    from playwright.sync_api import expect

    started = time.monotonic()
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
    loaded = time.monotonic() - started
    if page.locator("#preset-select").input_value() != preset:
        page.select_option("#preset-select", preset)
    page.wait_for_selector(f'body[data-base="{preset}"]')
    page.fill("#f-width", str(size[0]))
    page.fill("#f-height", str(size[1]))
    page.fill("#f-steps", str(steps))
    page.fill("#prompt", prompt)
    first = prompt.split("|")[0].split(":")[0].strip()  # the grammar's first prompt, as a chip
    expect(page.locator(".prompt-parsed .chip").first).to_have_text(first, timeout=10_000)
    shoot(page, "01-form.png", shots)
    page.click("#generate")
    expect(page.locator("#live-status")).to_have_text("finished", timeout=120_000)
    expect(page.locator("#live-step")).to_have_text(f"step {steps} / {steps}")
    expect(page.locator("#queue-status")).to_contain_text("idle", timeout=60_000)  # the worker is done with it
    page.wait_for_function("() => { const i = document.querySelector('#live-image'); return i.complete && i.naturalWidth > 0; }")
    shoot(page, "02-live.png", shots)
    run_id = page.evaluate("() => localStorage.getItem('studio.followed')")
    times = page.evaluate("() => window.__studioImageTimes.filter((t) => t.id === localStorage.getItem('studio.followed'))")
    return {"id": run_id, "page_load": loaded, "image_times": times}


def chromium_missing() -> str | None:
    """Why the browser test cannot run here, or None."""
    if not Path(CHROMIUM).is_file() and shutil.which(CHROMIUM) is None:
        return f"Chromium is not at {CHROMIUM} (apt-get install chromium; `make test` installs it)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    return None
