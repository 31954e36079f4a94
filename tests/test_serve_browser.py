"""The studio end to end: `pixengine serve` on loopback and Debian's Chromium, one browser
session: start a small run from the form and watch it, open it in the gallery, Remix it, drop
a PNG to load its recipe, drop a plain PNG as an image. Screenshots go to test-artifacts/serve/
(PIXENGINE_TEST_ARTIFACTS moves them)."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("fastapi", reason="the studio's extra is not installed: pip install 'pixengine[serve]'")

from serve_fixtures import png_bytes  # noqa: E402
from studio_browser import chromium_missing, chromium_page, drive, drop_file, running_server, shoot  # noqa: E402

from pixengine.outputs import read_run_document  # noqa: E402

_missing = chromium_missing()
if _missing is not None and os.environ.get("CI"):
    raise RuntimeError(f"CI must run the studio's browser test: {_missing}")
pytestmark = pytest.mark.skipif(_missing is not None, reason=_missing or "")


def test_the_studio_in_a_browser(tmp_path):
    from playwright.sync_api import expect

    outputs = tmp_path / "outputs"
    with running_server(outputs) as server, chromium_page() as page:
        # A malformed prompt is caught as it is typed, next to the prompt box.
        page.goto(server.url)
        page.wait_for_selector("body[data-ready=true]", timeout=60_000)
        page.fill("#prompt", "a cat:1:")
        expect(page.locator('[data-error-for="prompt"]').first).to_contain_text("prompt: malformed prompt", timeout=10_000)
        page.fill("#f-steps", "-3")
        expect(page.locator('[data-error-for="steps"]')).to_contain_text("steps: -3 must be at least 0", timeout=10_000)

        run = drive(page, server.url, steps=60)
        run_id = run["id"]
        assert (outputs / run_id / "final.png").is_file()
        assert run["image_times"], "no image reached the page while the run went"
        losses = page.locator("#live-losses").inner_text()
        assert "layout" in losses and "colors" in losses and "smooth" in losses
        assert page.locator("#live-rate").inner_text().endswith("per step")

        # The gallery has it, and its page shows the image, the animation and the recipe.
        page.click("#live-open")
        expect(page.locator("#run-status")).to_have_text("finished")
        page.wait_for_function("() => { const i = document.querySelector('#run-image'); return i && i.complete && i.naturalWidth === 64; }")
        tabs = page.locator("#run-tabs button").all_inner_texts()
        assert tabs[0] == "Final" and "Animation" in tabs and "Contact sheet" in tabs
        page.locator("#run-recipe").evaluate("el => el.closest('details').open = true")
        expect(page.locator("#run-recipe")).to_contain_text("prompt: a cat, in oils")
        assert page.locator("#run-download").get_attribute("href").endswith("/files/final.png?download=1")
        shoot(page, "03-run.png")
        page.goto(server.url + "#/gallery")
        expect(page.locator(f'.card[data-id="{run_id}"]')).to_be_visible()
        page.fill("#filter-text", "in oils")
        expect(page.locator(".card")).to_have_count(1)
        page.wait_for_function("() => { const i = document.querySelector('.card img'); return i && i.complete && i.naturalWidth > 0; }")
        shoot(page, "04-gallery.png")

        # Remix: the run's recipe in the form, its values in the fields.
        page.locator(f'.card[data-id="{run_id}"]').click()
        page.click("#run-remix")
        page.wait_for_selector(f'body[data-base="run:{run_id}"]')
        expect(page.locator("#view-create")).to_be_visible()
        assert page.locator("#preset-select").input_value() == f"run:{run_id}"
        assert page.locator("#prompt").input_value() == "a cat, in oils"
        assert page.locator("#f-width").input_value() == "64" and page.locator("#f-steps").input_value() == "60"
        shoot(page, "05-remix.png")

        # Drop a PNG written by pixengine: after asking, its recipe replaces what was typed.
        page.select_option("#preset-select", "fft_repaint")
        page.wait_for_selector('body[data-base="fft_repaint"]')
        page.fill("#prompt", "typed by hand")
        drop_file(page, (outputs / run_id / "final.png").read_bytes(), "final.png")
        expect(page.locator("#drop-dialog")).to_be_visible()
        expect(page.locator("#drop-title")).to_have_text("This file carries a pixengine recipe")
        assert page.locator("#prompt").input_value() == "typed by hand"  # nothing applied before the answer
        shoot(page, "06-drop.png")
        page.click("#drop-apply")
        expect(page.locator("#prompt")).to_have_value("a cat, in oils")
        assert page.locator("#preset-select").input_value().startswith("dropped:")
        expect(page.locator("#f-width")).to_have_value("64")

        # A plain PNG is no recipe: it can only be used as an image input.
        drop_file(page, png_bytes(size=(48, 32), color=(30, 90, 200)), "screenshot.png")
        expect(page.locator("#drop-title")).to_have_text("No pixengine recipe in this file")
        assert page.locator("#drop-apply").is_hidden()
        page.select_option("#drop-field", "losses.layout.image")
        page.click("#drop-use-image")
        page.wait_for_function("() => document.querySelector('[data-key=\"losses.layout.image\"] img').src.includes('/api/uploads/')")

        # Generate from the dropped recipe with the new image: an ordinary run folder.
        page.click("#generate")
        page.wait_for_function("(first) => localStorage.getItem('studio.followed') !== first", arg=run_id)
        second = page.evaluate("() => localStorage.getItem('studio.followed')")
        expect(page.locator("#live-status")).to_have_text("finished", timeout=120_000)
        document = read_run_document(outputs / second / "final.png")
        assert document["config"]["prompt"] == "a cat, in oils"
        assert document["config"]["losses"]["layout"]["image"].startswith(str(outputs / second / "inputs"))
        shoot(page, "07-second-run.png")
        assert not page.problems, page.problems
    assert server.process.returncode == 0, server.output
    assert "Traceback" not in server.output, server.output
