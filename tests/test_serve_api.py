"""The web studio's HTTP API, in-process (FastAPI's test client) with one real worker process:
every endpoint, every refusal, cancel and resume, uploads, recipes, Share."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the studio's extra is not installed: pip install 'pixengine[serve]'")
pytest.importorskip("httpx", reason="FastAPI's test client needs httpx")

from serve_fixtures import ENDLESS, SMALL, finished, png_bytes, sse_events, start, studio_client, wait_for  # noqa: E402

from pixengine.outputs import read_run_document  # noqa: E402


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    return tmp_path_factory.mktemp("studio") / "outputs"


@pytest.fixture(scope="module")
def client(outputs):
    """One studio, one worker process, for the whole module (a worker costs seconds to start)."""
    with studio_client(outputs, workers=1) as client:
        yield client


@pytest.fixture(scope="module")
def done_run(client):
    """A finished small run of repaint, shared by the tests that only read one."""
    run_id = start(client, prompt="a cat | fur:0.5", save_every=4)
    return finished(client, run_id)


# -- presets and assets -------------------------------------------------------------------------


def test_presets_list_names_descriptions_and_thumbnails(client):
    presets = {p["name"]: p for p in client.get("/api/presets").json()["presets"]}
    assert "repaint" in presets and "default" in presets
    assert presets["repaint"]["description"].startswith("Repaint the shipped cat photo")
    assert presets["default"]["thumbnail"] == "/api/presets/default/thumbnail"  # docs/gallery/default.jpg
    image = client.get(presets["default"]["thumbnail"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"


def test_preset_detail_has_the_resolved_recipe_and_option_schemas(client):
    detail = client.get("/api/presets/repaint").json()
    assert detail["base"] == {"kind": "preset", "ref": "repaint", "title": "preset repaint"}
    assert detail["recipe"]["steps"] == 120 and detail["recipe"]["losses"]["smooth"]["type"] == "tv"
    main = {f["name"]: f for f in detail["form"]["main"]}
    assert main["width"]["value"] == 192 and main["width"]["min"] == 8 and main["width"]["type"] == "int"
    components = {c["key"]: c for c in detail["form"]["components"]}
    layout = {f["name"]: f for f in components["losses.layout"]["fields"]}
    assert layout["image"]["file"] == "image" and layout["image"]["value"] == "pkg:pixengine_presets/assets/chelsea.jpg"
    assert layout["metric"]["choices"] == ["mse", "l1"] and layout["metric"]["help"]
    assert layout["image"]["required"] is True
    sections = {s["key"]: s for s in detail["form"]["sections"]}
    assert "media" in sections  # a plugin's own settings get their section


def test_unknown_preset_is_404_on_its_page_and_422_in_a_run(client):
    answer = client.get("/api/presets/nope")
    assert answer.status_code == 404 and "'nope'" in answer.json()["detail"]
    answer = client.post("/api/runs", json={"preset": "repaintt", "overrides": SMALL})
    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    assert error["key"] == "preset" and "'repaintt'" in error["message"] and "did you mean 'repaint'" in error["message"]


def test_a_preset_is_a_name_never_a_path(client, tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text("extends: repaint\n")
    for ref in (str(mine), "../presets/repaint.yaml", "repaint.yaml"):
        answer = client.post("/api/runs", json={"preset": ref})
        assert answer.status_code == 422 and answer.json()["errors"][0]["key"] == "preset", ref


def test_assets_list_the_shipped_images(client):
    assets = {a["ref"]: a for a in client.get("/api/assets").json()["assets"]}
    chelsea = assets["pkg:pixengine_presets/assets/chelsea.jpg"]
    image = client.get(chelsea["url"])
    assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"
    assert client.get("/api/assets/pixengine_presets/repaint.yaml").status_code == 404  # not an image asset
    assert client.get("/api/assets/pixengine_presets/../pixengine/cli.py").status_code == 404


# -- checking requests ----------------------------------------------------------------------------


def test_every_bad_override_is_reported_at_its_key_in_one_answer(client):
    answer = client.post("/api/runs", json={"preset": "repaint", "overrides": {
        **SMALL, "losses.smooth.wieght": 1, "stepz": 3, "width": "wide", "losses.layout.metric": "l3"}})
    assert answer.status_code == 422
    errors = {e["key"]: e["message"] for e in answer.json()["errors"]}
    assert set(errors) == {"losses.smooth.wieght", "stepz", "width", "losses.layout.metric"}
    assert "did you mean 'weight'" in errors["losses.smooth.wieght"]
    assert "did you mean 'steps'" in errors["stepz"]
    assert "'l3' is not one of 'mse', 'l1'" in errors["losses.layout.metric"]
    assert "wide" in errors["width"]
    assert "losses.smooth.wieght" in answer.json()["detail"]  # the summary names the culprits too


def test_validate_checks_without_queueing(client, outputs):
    before = sorted(p.name for p in outputs.iterdir())
    answer = client.post("/api/validate", json={"preset": "repaint", "prompt": "a cat", "overrides": {"steps": 7}})
    assert answer.status_code == 200 and answer.json() == {"ok": True, "preset": "repaint", "steps": 7, "width": 192,
                                                            "height": 128, "seed": 0}
    assert client.post("/api/validate", json={"preset": "repaint", "overrides": {"steps": -1}}).status_code == 422
    assert sorted(p.name for p in outputs.iterdir()) == before


def test_override_lines_are_read_as_the_cli_reads_them(client):
    answer = client.post("/api/validate", json={"preset": "repaint", "override_lines": ["optimizer.args={betas: [0.8, 0.9]}",
                                                                                       "steps=9"]})
    assert answer.status_code == 200 and answer.json()["steps"] == 9
    answer = client.post("/api/validate", json={"preset": "repaint", "override_lines": ["steps=[1,"]})
    assert answer.status_code == 422 and answer.json()["errors"][0]["key"] == "steps"


def test_a_malformed_prompt_is_refused_with_a_caret(client):
    answer = client.post("/api/runs", json={"preset": "repaint", "prompt": "a cat:1:", "overrides": SMALL})
    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    assert error["key"] == "prompt" and "malformed prompt" in error["message"] and "^" in error["message"]
    check = client.post("/api/prompts/check", json={"text": "a cat@10"})
    assert check.status_code == 422 and check.json()["errors"][0]["position"] == 7
    good = client.post("/api/prompts/check", json={"text": "a cat:2 | text:-0.3@-50%"}).json()["prompts"]
    assert good == [{"text": "a cat", "weight": 2.0, "stop": None, "start": None, "end": None},
                    {"text": "text", "weight": -0.3, "stop": None, "start": None, "end": "50%"}]


def test_the_studio_chooses_folders_and_the_browser_never_names_a_file(client, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes())
    cases = {
        "output_dir": "/tmp/elsewhere",
        "losses.layout.image": str(secret),
        "losses.colors.image": "pkg:pixengine/cli.py",
        "parameterization.init_image": "upload:" + "0" * 64,
    }
    answer = client.post("/api/runs", json={"preset": "repaint", "overrides": {**SMALL, **cases}})
    assert answer.status_code == 422
    errors = {e["key"]: e["message"] for e in answer.json()["errors"]}
    assert set(errors) == set(cases)
    assert "the studio chooses" in errors["output_dir"]
    assert "a path on the server" in errors["losses.layout.image"]
    assert "not a shipped image asset" in errors["losses.colors.image"]
    assert "no upload" in errors["parameterization.init_image"]


def test_malformed_bodies_are_422_not_500(client):
    for body in ("not json", json.dumps({"preset": "repaint", "count": "many"}), json.dumps({"preset": "repaint", "bogus": 1})):
        answer = client.post("/api/runs", content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 422, body
        assert answer.json()["detail"] and "Traceback" not in answer.text
    answer = client.post("/api/runs", json={"preset": "repaint", "count": 99})
    assert answer.status_code == 422 and answer.json()["errors"][0]["key"] == "count"


# -- uploads ---------------------------------------------------------------------------------------


def test_uploads_are_decoded_reencoded_and_stripped(client):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_itxt("pixengine", "config: {steps: 1}")
    stored = client.post("/api/uploads", content=png_bytes(pnginfo=info), headers={"content-type": "image/png"}).json()
    assert stored["ref"].startswith("upload:") and (stored["width"], stored["height"]) == (32, 24)
    image = client.get(stored["url"])
    assert image.status_code == 200
    with Image.open(io.BytesIO(image.content)) as picture:
        assert "pixengine" not in picture.info and picture.getpixel((0, 0)) == (200, 40, 40)
    jpeg = io.BytesIO()
    Image.new("RGB", (20, 10), (10, 200, 30)).save(jpeg, format="JPEG")
    assert client.post("/api/uploads", content=jpeg.getvalue()).json()["width"] == 20


@pytest.mark.parametrize("data, status, words", [
    (b"this is not an image", 415, "not an image"),
    (png_bytes()[:60], 415, "damaged"),
    (b"", 422, "empty"),
])
def test_bad_uploads_are_refused_naming_the_problem(client, data, status, words):
    answer = client.post("/api/uploads", content=data)
    assert answer.status_code == status and words in answer.json()["detail"]


def test_huge_uploads_are_refused_before_and_after_decoding(tmp_path):
    with studio_client(tmp_path / "out", workers=0, max_upload_bytes=50_000, max_upload_pixels=1_000_000) as small:
        answer = small.post("/api/uploads", content=b"\0" * 60_000)
        assert answer.status_code == 413 and "60000 bytes" in answer.json()["detail"]
        bomb = png_bytes(size=(2000, 2000), color=0, mode="1")  # 4 Mpixels in a few kilobytes
        assert len(bomb) < 50_000
        answer = small.post("/api/uploads", content=bomb)
        assert answer.status_code == 413 and "2000x2000" in answer.json()["detail"]


def test_a_run_uses_an_upload_from_its_own_folder(client, outputs):
    picture = np.zeros((40, 60, 3), np.uint8)
    picture[:, :30] = (250, 250, 0)
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    ref = client.post("/api/uploads", content=buffer.getvalue()).json()["ref"]
    run_id = start(client, **{"losses.layout.image": ref, "losses.colors.image": ref})
    run = finished(client, run_id)
    folder = outputs / run_id
    [copy] = list((folder / "inputs").iterdir())
    document = read_run_document(folder / "final.png")
    assert document["config"]["losses"]["layout"]["image"] == str(copy)
    assert document["config"]["losses"]["colors"]["image"] == str(copy)
    assert str(copy) in document["files"]  # its SHA-256 recorded, like any input
    assert client.get(f"/api/runs/{run_id}/files/inputs/{copy.name}").status_code == 200
    assert run["origin"] == "studio"


# -- runs ----------------------------------------------------------------------------------------


def test_a_run_streams_progress_and_images_then_ends(client, outputs):
    run_id = start(client, prompt="a cat")
    events = sse_events(client, f"/api/runs/{run_id}/events")
    names = [name for name, _ in events]
    assert names[0] == "snapshot" and names[-1] == "end"
    progress = [data for name, data in events if name == "progress"]
    steps = [record["step"] for data in progress for record in data["records"]]
    assert steps == sorted(steps) and steps[-1] == SMALL["steps"]
    assert set(progress[-1]["losses"]) == {"layout", "colors", "smooth"}
    images = [data["image"] for data in progress if data.get("image")]
    assert images and images[-1].startswith("data:image/png;base64,")
    end = events[-1][1]
    assert end["status"] == "finished" and end["step"] == SMALL["steps"] and "final.png" in end["files"]


def test_a_finished_run_has_its_image_files_log_and_place_in_the_gallery(client, done_run):
    run_id = done_run["id"]
    assert done_run["step"] == done_run["steps"] == SMALL["steps"] and done_run["prompt"] == "a cat | fur:0.5"
    assert done_run["seconds_per_step"] > 0 and done_run["step_images"] == ["steps/step_00004.png", "steps/step_00008.png"]
    image = client.get(f"/api/runs/{run_id}/image")
    assert image.status_code == 200 and image.content[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("final.png", "run.yaml", "log.jsonl", "contact_sheet.png", "steps/step_00004.png"):
        assert client.get(f"/api/runs/{run_id}/files/{name}").status_code == 200, name
    download = client.get(f"/api/runs/{run_id}/files/final.png?download=1")
    assert download.headers["content-disposition"].startswith("attachment")
    assert client.get(f"/api/runs/{run_id}/thumbnail").headers["content-type"] == "image/jpeg"
    log = client.get(f"/api/runs/{run_id}/log").json()
    assert log["count"] == SMALL["steps"] and log["records"][-1]["step"] == SMALL["steps"]
    listing = client.get("/api/runs", params={"preset": "repaint", "q": "fur:0.5"}).json()
    assert [r["id"] for r in listing["runs"]] == [run_id]
    assert client.get("/api/runs", params={"q": "no such prompt"}).json()["total"] == 0


def test_the_gallery_lists_newest_first(client, done_run):
    later = finished(client, start(client, prompt="later"))
    runs = client.get("/api/runs").json()["runs"]
    order = [r["id"] for r in runs]
    assert order.index(later["id"]) < order.index(done_run["id"])


def test_cancel_keeps_the_image_and_a_checkpoint_and_resume_goes_on(client, outputs):
    run_id = start(client, **ENDLESS)
    wait_for(client, run_id, lambda r: r["status"] == "running" and r["step"] >= 3)
    answer = client.post(f"/api/runs/{run_id}/cancel")
    assert answer.status_code == 200 and answer.json()["cancelling"] is True
    stopped = wait_for(client, run_id, lambda r: r["status"] not in ("queued", "running"))
    assert stopped["status"] == "interrupted" and stopped["resumable"] and stopped["step"] >= 3
    folder = outputs / run_id
    assert (folder / "checkpoint.pt").is_file() and read_run_document(folder / "final.png")["status"] == "interrupted"
    assert client.post(f"/api/runs/{run_id}/cancel").status_code == 409

    assert client.post(f"/api/runs/{run_id}/resume", json={"steps": stopped["step"]}).status_code == 422
    answer = client.post(f"/api/runs/{run_id}/resume", json={"steps": stopped["step"] + 5})
    assert answer.status_code == 200, answer.text
    resumed = finished(client, run_id)
    assert resumed["step"] == stopped["step"] + 5
    assert read_run_document(folder / "final.png")["resumed_at"] == [stopped["step"]]
    again = client.post(f"/api/runs/{run_id}/resume")
    assert again.status_code == 422 and again.json()["errors"][0]["key"] == "steps"


@pytest.mark.skipif(sys.platform == "darwin", reason="mps may exist on a Mac")
def test_a_run_that_fails_to_build_says_why(client, outputs):
    run_id = start(client, device="mps")  # valid config, but no such device here: fails when built
    run = wait_for(client, run_id, lambda r: r["status"] not in ("queued", "running"))
    assert run["status"] == "failed" and "mps was asked for" in run["error"]
    assert run["resumable"]  # it never started: Resume starts it afresh
    assert "mps was asked for" in (outputs / run_id / "console.log").read_text()
    assert client.get(f"/api/runs/{run_id}/image").status_code == 404


def test_runs_wait_their_turn_and_a_waiting_one_can_be_taken_off(client, outputs):
    first = start(client, **ENDLESS)
    second = start(client, prompt="waiting")
    wait_for(client, first, lambda r: r["status"] == "running")
    waiting = client.get(f"/api/runs/{second}").json()
    assert waiting["status"] == "queued" and waiting["queue_position"] == 1
    assert client.get("/api/queue").json() == {"running": [first], "pending": [second], "workers": 1}
    answer = client.post(f"/api/runs/{second}/cancel")
    assert answer.json() == {"id": second, "status": "cancelled"}
    assert not (outputs / second).exists()  # it held nothing but its request
    assert client.get(f"/api/runs/{second}").status_code == 404
    client.post(f"/api/runs/{first}/cancel")
    wait_for(client, first, lambda r: r["status"] == "interrupted")


def test_the_server_answers_while_a_run_is_going(client):
    run_id = start(client, **ENDLESS)
    wait_for(client, run_id, lambda r: r["status"] == "running" and r["step"] > 0)
    for path in ("/api/presets", "/api/runs", "/api/presets/texture_gabor", f"/api/runs/{run_id}"):
        assert client.get(path).status_code == 200
    steps = [client.get(f"/api/runs/{run_id}").json()["step"] for _ in range(2)]
    client.post(f"/api/runs/{run_id}/cancel")
    wait_for(client, run_id, lambda r: r["status"] == "interrupted")
    assert steps[0] > 0


def test_a_batch_counts_seeds_up(client, outputs):
    answer = client.post("/api/runs", json={"preset": "repaint", "overrides": {**SMALL, "seed": 40}, "count": 2})
    ids = answer.json()["ids"]
    assert len(ids) == 2 and answer.json()["id"] == ids[0]
    seeds = [finished(client, run_id)["seed"] for run_id in ids]
    assert seeds == [40, 41]


def test_unknown_runs_and_files_outside_the_allow_list_are_404(client, done_run):
    for path in ("/api/runs/nope", "/api/runs/nope/image", "/api/runs/nope/events", "/api/runs/nope/log",
                 "/api/runs/nope/recipe", "/api/runs/nope/files/final.png"):
        answer = client.get(path)
        assert answer.status_code == 404 and "'nope'" in answer.json()["detail"], path
    assert client.post("/api/runs/nope/cancel").status_code == 404
    assert client.post("/api/runs/nope/resume").status_code == 404
    run_id = done_run["id"]
    for name in ("checkpoint.pt", ".pixengine.lock", "studio.json", "%2e%2e/%2e%2e/pyproject.toml", "..%2Frun.yaml",
                 "inputs/..%2F..%2Fsecret.png", "steps%2F..%2Frun.yaml", "/etc/passwd"):
        answer = client.get(f"/api/runs/{run_id}/files/{name}")
        assert answer.status_code == 404, name
    for run_ref in ("..", "..~..", "%2e%2e"):
        assert client.get(f"/api/runs/{run_ref}/files/run.yaml").status_code == 404


def test_openapi_documents_the_api(client):
    spec = client.get("/openapi.json").json()
    for path, method in [("/api/presets", "get"), ("/api/presets/{name}", "get"), ("/api/runs", "post"),
                         ("/api/runs", "get"), ("/api/runs/{run_id}", "get"), ("/api/runs/{run_id}/image", "get"),
                         ("/api/runs/{run_id}/cancel", "post"), ("/api/runs/{run_id}/events", "get"),
                         ("/api/runs/{run_id}/resume", "post"), ("/api/uploads", "post"), ("/api/recipes", "post")]:
        assert method in spec["paths"][path], (path, method)
    run_info = spec["components"]["schemas"]["RunInfo"]["properties"]["status"]
    assert run_info["enum"] == ["queued", "running", "finished", "interrupted", "failed"]


# -- recipes: Re-run, Remix, dropped PNGs, Share -------------------------------------------------------


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def test_rerun_makes_the_same_image_in_a_new_folder(client, outputs, done_run):
    answer = client.post("/api/runs", json={"recipe": f"run:{done_run['id']}"})
    assert answer.status_code == 200, answer.text
    again = finished(client, answer.json()["id"])
    assert again["id"] != done_run["id"] and again["prompt"] == done_run["prompt"]
    assert np.array_equal(_pixels(outputs / again["id"] / "final.png"), _pixels(outputs / done_run["id"] / "final.png"))


def test_remix_loads_the_runs_recipe_as_a_form_and_overrides_only_what_changes(client, outputs, done_run):
    recipe = client.get(f"/api/runs/{done_run['id']}/recipe").json()
    assert recipe["base"]["ref"] == f"run:{done_run['id']}" and recipe["preset"] == "repaint"
    assert recipe["recipe"]["prompt"] == "a cat | fur:0.5" and recipe["recipe"]["width"] == 64
    main = {f["name"]: f["value"] for f in recipe["form"]["main"]}
    assert main["steps"] == SMALL["steps"] and main["seed"] == 0
    answer = client.post("/api/runs", json={"recipe": recipe["base"]["ref"], "prompt": "a dog",
                                            "overrides": {"steps": 5}})
    remixed = finished(client, answer.json()["id"])
    document = read_run_document(outputs / remixed["id"] / "final.png")
    assert document["config"]["prompt"] == "a dog" and document["config"]["steps"] == 5
    assert document["config"]["width"] == 64 and document["config"]["save_every"] == 4


def test_a_dropped_png_gives_its_recipe_and_plain_pngs_are_images(client, outputs, done_run):
    final = (outputs / done_run["id"] / "final.png").read_bytes()
    answer = client.post("/api/recipes", content=final).json()
    recipe = answer["recipe"]
    assert recipe["base"]["kind"] == "dropped" and recipe["preset"] == "repaint"
    assert recipe["recipe"]["prompt"] == "a cat | fur:0.5" and recipe["recipe"]["steps"] == SMALL["steps"]
    assert answer["image"]["ref"].startswith("upload:")  # "use as image" needs no second upload
    run = client.post("/api/runs", json={"recipe": recipe["base"]["ref"], "overrides": {"steps": 3}})
    assert finished(client, run.json()["id"])["prompt"] == "a cat | fur:0.5"

    plain = client.post("/api/recipes", content=png_bytes()).json()
    assert plain["recipe"] is None and plain["image"]["ref"].startswith("upload:")
    answer = client.post("/api/recipes", content=b"GIF89a not really")
    assert answer.status_code == 415 and "drop a PNG written by pixengine" in answer.json()["detail"]


def test_a_dropped_recipe_naming_a_strangers_file_asks_for_an_upload(client, done_run, outputs, tmp_path):
    import yaml

    from pixengine.outputs import save_png

    document = read_run_document(outputs / done_run["id"] / "final.png")
    document["config"]["losses"]["layout"]["image"] = "/home/stranger/cat.jpg"
    doctored = tmp_path / "doctored.png"
    save_png(doctored, Image.new("RGB", (8, 8)), yaml.safe_dump(document))
    recipe = client.post("/api/recipes", content=doctored.read_bytes()).json()["recipe"]
    answer = client.post("/api/validate", json={"recipe": recipe["base"]["ref"]})
    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    assert error["key"] == "losses.layout.image" and "/home/stranger/cat.jpg" in error["message"]
    ref = client.post("/api/uploads", content=png_bytes()).json()["ref"]
    answer = client.post("/api/validate", json={"recipe": recipe["base"]["ref"], "overrides": {"losses.layout.image": ref}})
    assert answer.status_code == 200


def test_share_serves_the_runs_recipe_bundle_which_reruns_it(client, done_run, tmp_path):
    from pixengine.sharing.bundle import open_bundle

    answer = client.get(f"/api/runs/{done_run['id']}/bundle")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    bundle = tmp_path / "shared.zip"
    bundle.write_bytes(answer.content)
    opened = open_bundle(bundle)
    final = tmp_path / "final.png"
    final.write_bytes(client.get(f"/api/runs/{done_run['id']}/files/final.png").content)
    recorded = read_run_document(final)
    assert opened.document["config"]["seed"] == recorded["config"]["seed"]
    assert opened.document["config"]["preset"] == recorded["config"]["preset"] == "repaint"
    # Dropped on the page, the bundle is a recipe like a PNG.
    dropped = client.post("/api/recipes", content=answer.content)
    assert dropped.status_code == 200, dropped.text
