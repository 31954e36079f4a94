"""The web studio's costs, as figures (never pass/fail): a real `pixengine serve` on loopback
and Debian's Chromium, driven by the end-to-end test's own code (tests/studio_browser.py).

    python benchmarks/bench_serve.py [--steps 300] [--size 128] [--idle 10]

* start: seconds from the command to its printed address, and to a worker ready to run;
* page load: navigation to a usable form (presets listed, form built), first and warm;
* step to image: from the end of an optimisation step (the worker's clock) to the image
  decoded on the page (the page's clock; one machine, one clock), over a run;
* idle CPU: the server's and workers' CPU time over --idle seconds with the page open (its
  event streams connected), as a share of one core;
* memory: resident memory of the server and its workers, idle and after the run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import httpx  # noqa: E402
from studio_browser import chromium_page, drive, running_server  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pids(url: str) -> tuple[int, list[int]]:
    info = httpx.get(url + "api/info", timeout=30).json()["pids"]
    return info["server"], info["workers"]


def wait_for_worker(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while httpx.get(url + "api/queue", timeout=30).json()["workers"] < 1:
        if time.monotonic() > deadline:
            raise RuntimeError("no worker became ready")
        time.sleep(0.1)


def percentiles(values: list[float]) -> str:
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
    return f"median {statistics.median(values):.1f} ms, p90 {p90:.1f} ms, max {values[-1]:.1f} ms over {len(values)} images"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--idle", type=float, default=10.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        outputs = Path(scratch) / "outputs"
        begun = time.monotonic()
        with running_server(outputs) as server:
            printed = time.monotonic() - begun
            wait_for_worker(server.url)
            ready = time.monotonic() - begun
            print(f"start: address printed after {printed:.2f} s, a worker ready after {ready:.2f} s")
            server_pid, workers = pids(server.url)
            print(f"memory, idle: server {rss_mb(server_pid):.0f} MB + workers {sum(rss_mb(p) for p in workers):.0f} MB")

            with chromium_page() as page:
                loads = []
                for _ in range(4):
                    started = time.monotonic()
                    page.goto(server.url)
                    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
                    loads.append(time.monotonic() - started)
                print(f"page load to a usable form: first {loads[0] * 1000:.0f} ms, "
                      f"then median {statistics.median(loads[1:]) * 1000:.0f} ms")

                run = drive(page, server.url, size=(args.size, args.size), steps=args.steps, shots=Path(scratch) / "shots")
                latencies = [t["shown"] - t["stepEnd"] for t in run["image_times"]]
                record = httpx.get(server.url + f"api/runs/{run['id']}", timeout=30).json()
                print(f"run: repaint {args.size}x{args.size}, {args.steps} steps, {record['seconds_per_step'] * 1000:.1f} ms per step")
                print(f"step end to image decoded on the page: {percentiles(latencies)}")
                print(f"memory, after the run: server {rss_mb(server_pid):.0f} MB + workers "
                      f"{sum(rss_mb(p) for p in workers):.0f} MB")

                time.sleep(2)  # let the run's aftermath settle
                before = {pid: cpu_seconds(pid) for pid in [server_pid, *workers]}
                time.sleep(args.idle)
                used = {pid: cpu_seconds(pid) - before[pid] for pid in before}
                print(f"idle CPU over {args.idle:.0f} s with the page open: server "
                      f"{100 * used[server_pid] / args.idle:.2f}% of a core, workers "
                      f"{100 * sum(used[p] for p in workers) / args.idle:.2f}%")


if __name__ == "__main__":
    main()
