"""The optimisation loop. It knows components only through their base classes:

    image  = parameterization()
    views  = augmentations(image)
    total  = sum(weight * loss(image, views))
    total.backward(); optimizer.step()

Around it: building components from a validated :class:`~pixengine.validate.RunSpec`, the
learning-rate schedule, progressive growing, progress, logs, intermediate and final PNGs (each
carrying the run), lifecycle hooks, and keeping the last good image when the run is stopped by
Ctrl-C, an exception or a non-finite loss.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf
from PIL import Image
from tqdm import tqdm

from . import __version__
from . import checkpoint, memory
from .augment import AugmentationChain
from .components import StepInputs
from .context import RunContext
from .device import choose_device
from .errors import ConfigError, NonFiniteLossError, PixengineError, PluginError
from .images import tensor_to_pil
from .optim import apply_schedule, build_optimizer, needs_closure
from .outputs import JsonlLog, parse_run_document, repair_log, run_document, save_png, write_text
from .registry import Registry
from .resources import resolve_path
from .rundir import LOG_NAME, RunFolderLock
from .signals import interrupts_deferred
from .runview import RunView
from .sharing.identity import sha256_of
from .sharing.paths import declared_files
from .sharing.reproduce import differences, notice
from .seeds import seed_everything, seed_value
from .validate import ComponentSpec, RunSpec

FINAL_NAME = "final.png"
RUN_YAML = "run.yaml"


@dataclass
class RunResult:
    status: str
    output_dir: Path
    final_path: Path | None
    #: Every file the run wrote, in order.
    paths: list[Path]
    config: Any
    steps_done: int
    #: The final image, (1, 3, H, W) on the CPU.
    tensor: torch.Tensor | None
    #: One dict per step: total and per-loss values.
    history: list[dict] = field(default_factory=list)
    #: Where the state to resume from was written (None with outputs.checkpoint off).
    checkpoint_path: Path | None = None

    @property
    def image(self) -> Image.Image | None:
        return tensor_to_pil(self.tensor) if self.tensor is not None else None


def default_output_dir(preset: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("outputs") / f"{preset or 'run'}-{stamp}"
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def input_files(spec: RunSpec) -> dict[str, str]:
    """The SHA-256 of each file the run's declared file options name (by the path as written),
    so the run's outputs say exactly which inputs made them."""
    files = {}
    for _key, path in declared_files(spec):
        local = resolve_path(path)
        if path not in files and local.is_file():
            files[path] = sha256_of(local)
    return files


class Run:
    """One run: build it with :meth:`build`, then :meth:`execute` it."""

    def __init__(self, spec: RunSpec, registry: Registry):
        self.spec = spec
        self.registry = registry
        self.settings = spec.settings
        self.config = spec.config
        self.step = 0
        self.paths: list[Path] = []
        self.history: list[dict] = []
        self.output_dir: Path | None = None
        self.ctx: RunContext | None = None
        self.parameterization = None
        self.chain: AugmentationChain | None = None
        self.losses: list[tuple[ComponentSpec, torch.nn.Module]] = []
        self.optimizer: torch.optim.Optimizer | None = None
        self._last_good: torch.Tensor | None = None
        self._log: JsonlLog | None = None
        #: The random generators' states at the start of step ``self.step`` (for checkpoints).
        self._rng: dict | None = None
        self._checkpoint_path: Path | None = None
        #: Steps at which this run was resumed (recorded in its outputs).
        self._resumed_at: list[int] = []
        self._hooks = registry.manager.hook if registry.manager is not None else None
        #: What lifecycle hooks see of this run.
        self.view = RunView(self)
        #: Seconds of optimisation before this process resumed the run.
        self._seconds_before = 0.0
        #: The identity (file name, SHA-256) of every weight file, by component key.
        self.weights: dict[str, dict[str, dict[str, str]]] = {}
        #: The SHA-256 of every file the run's options name, by the path as written.
        self.files: dict[str, str] = {}
        #: Why a hook asked the run to stop early (``RunView.stop``); None while it goes on.
        self.stop_reason: str | None = None

    # -- building -------------------------------------------------------------------------

    def build(self) -> "Run":
        settings = self.settings
        if not self.spec.losses:
            raise ConfigError("a run needs at least one loss in the 'losses' section", key="losses")
        device = choose_device(settings.device)
        # Every weight file is found (or reported missing) and identified before anything loads.
        weight_files = self._weight_files()
        self.weights = {key: {name: {"file": Path(path).name, "sha256": sha256_of(path)} for name, path in files.items()}
                        for key, files in weight_files.items()}
        self._say_what_may_not_reproduce(device)
        if settings.limits.memory == "check":
            self._check_memory(device, weight_files)
        seed = seed_value(settings.seed)
        seed_everything(seed, settings.deterministic)
        self.files = input_files(self.spec)
        self.output_dir = Path(settings.output_dir) if settings.output_dir else default_output_dir(settings.preset)
        self.config.output_dir = str(self.output_dir)
        self.ctx = RunContext(
            device=device,
            width=settings.width,
            height=settings.height,
            steps=settings.steps,
            seed=seed,
            config=self.config,
            output_dir=self.output_dir,
            prompts=self.spec.prompts,
            # A shared recipe's files were vetted by name (sharing.paths); components may open those.
            allowed_files=set(self.files) if self.spec.recipe is not None and self.spec.recipe.shared else None,
        )
        for spec in self.spec.models:
            model = self._build(spec).to(device).eval()
            model.requires_grad_(False)
            self.ctx.models[spec.label] = model
        self.parameterization = self._build(self.spec.parameterization).to(device)
        self.ctx.parameterization = self.parameterization
        links = [self._build(spec).to(device) for spec in self.spec.augmentations]
        self.chain = AugmentationChain(links) if links else None
        self.ctx.augment = self.chain
        self.losses = [(spec, self._build(spec).to(device)) for spec in self.spec.losses]
        self.parameterization.initialize(self.score_images)
        self.optimizer = self._make_optimizer()
        return self

    def _weight_files(self) -> dict[str, dict[str, Path]]:
        """{component key: {weights name: path}} for every component's weight files."""
        found = {}
        for spec in self.spec.components():
            with self._errors_named(spec):
                files = spec.entry.cls.weight_files(spec.options, spec.key)
            if files:
                found[spec.key] = {name: Path(path) for name, path in files.items()}
        return found

    def _check_memory(self, device: torch.device, weight_files: dict[str, dict[str, Path]]) -> None:
        """Refuse a run that cannot fit, before it allocates anything (pixengine.memory)."""
        needed = memory.estimate(self.spec, weight_files)
        free = memory.available(device)
        if free is None or needed.total <= free:
            return
        what, _, key = needed.largest()
        raise ConfigError(
            f"this run needs about {needed.total / memory.GB:.1f} GB ({needed.describe()}) and {device} has "
            f"{free / memory.GB:.1f} GB free; the largest part is {what}: lower {key}, or set limits.memory=ignore to try anyway",
            key=key,
        )

    def _say_what_may_not_reproduce(self, device: torch.device) -> None:
        recipe = self.spec.recipe
        if recipe is None or not recipe.shared:
            return
        here = {"pixengine": __version__, "torch": str(torch.__version__), "device": str(device),
                "plugins": self.spec.plugin_versions(self.registry), "weights": self.weights}
        notes = differences(recipe.metadata, here)
        if notes:
            print(notice(notes, recipe.origin), file=sys.stderr)

    @torch.no_grad()
    def score_images(self, images: torch.Tensor) -> torch.Tensor:
        """The run's total weighted loss of each image in a batch, shape (B,)."""
        scores = []
        for image in images.split(1):
            views = self.chain(image) if self.chain is not None else None
            inputs = StepInputs(image=image, views=views, step=-1, steps=self.settings.steps, augment=self.chain)
            scores.append(sum(spec.options.weight * loss(inputs) for spec, loss in self.losses))
        return torch.stack([torch.as_tensor(s, dtype=images.dtype, device=images.device) for s in scores])

    def _build(self, spec: ComponentSpec):
        with self._errors_named(spec):
            return spec.entry.cls(spec.options, self.ctx)

    @contextlib.contextmanager
    def _errors_named(self, spec: ComponentSpec):
        """Errors from a component's code, named after its place in the config and its plugin."""
        entry = spec.entry
        loaded = self.spec.loaded
        try:
            yield
        except ConfigError as exc:
            # A component names its own option ("image"); the run knows where that lives.
            if exc.key is None:
                key = spec.key
            elif exc.key.startswith(spec.key):
                key = exc.key
            else:
                key = f"{spec.key}.{exc.key}"
            source = exc.source or (loaded.source_of(key) if loaded else None)
            raise ConfigError(exc.detail, key=key, source=source) from None
        except PixengineError as exc:
            # Keep the error's type (e.g. WeightsNotFoundError); say which section it came from.
            exc.args = (f"{spec.key}: {exc.args[0] if exc.args else exc}", *exc.args[1:])
            raise
        except Exception as exc:
            raise PluginError(
                f"plugin '{entry.plugin}' failed to build {entry.kind} '{entry.name}' ({spec.key}): "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def _make_optimizer(self) -> torch.optim.Optimizer:
        try:
            return build_optimizer(self.settings.optimizer, self.parameterization.param_groups())
        except ConfigError as exc:
            loaded = self.spec.loaded
            raise ConfigError(exc.detail, key=exc.key, source=loaded.source_of(exc.key or "") if loaded else None) from None

    # -- running --------------------------------------------------------------------------

    def execute(self) -> RunResult:
        if self.ctx is None:
            self.build()
        lock = RunFolderLock(self.output_dir).acquire()  # before anything is written into it
        try:
            return self._execute_locked()
        finally:
            lock.release()

    def _execute_locked(self) -> RunResult:
        settings = self.settings
        # The folder says "running" from the start, so readers (a gallery, a sweep) see the run.
        write_text(self.output_dir / RUN_YAML, self.document("running"))
        if settings.outputs.log:
            log_path = self.output_dir / LOG_NAME
            if self._resumed_at:  # steps after the checkpoint (and a torn last line) would repeat
                repair_log(log_path, self.step)
            self._log = JsonlLog(log_path, append=bool(self._resumed_at))
            self.paths.append(self._log.path)
        self._call("on_run_start")
        bar = tqdm(
            total=settings.steps,
            desc=settings.preset or "run",
            unit="step",
            disable=not settings.progress,
            file=sys.stderr,
            dynamic_ncols=True,
        )
        status, error = "finished", None
        if self._rng is None:
            self._rng = checkpoint.rng_state(self.ctx.device)
        bar.update(self.step)
        try:
            for step in range(self.step, settings.steps):
                self._grow(step)
                self._one_step(step, bar)
                if self.stop_reason is not None and self.step < settings.steps:
                    status = "stopped"  # asked by a hook: ends like an interruption, without an error
                    break
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        except NonFiniteLossError as exc:
            status, error = "nonfinite", exc
            raise
        except BaseException:
            status = "failed"
            raise
        finally:
            bar.close()
            result = self._finish(status)
            if error is not None:
                error.paths = result.paths
            if status != "finished":
                kept = f" Kept the last good image in {result.final_path}." if result.final_path else ""
                if result.checkpoint_path is not None and status in ("interrupted", "stopped"):
                    kept += f" Go on with: pixengine run --resume {result.output_dir}"
                why = f" ({self.stop_reason})" if status == "stopped" else ""
                print(f"Run {status} at step {self.step}/{settings.steps}{why}.{kept}", file=sys.stderr)
        return result

    def _grow(self, step: int) -> None:
        for change in self.settings.grow:
            if change.at == step and (change.width, change.height) != (self.ctx.width, self.ctx.height):
                self.parameterization.resize(change.width, change.height)
                self.ctx.width, self.ctx.height = change.width, change.height
                self.optimizer = self._make_optimizer()

    def _one_step(self, step: int, bar: tqdm) -> None:
        settings = self.settings
        started = time.perf_counter()
        factor = apply_schedule(self.optimizer, settings.optimizer, step, settings.steps)
        image, total, terms = self._evaluate(step)
        # One transfer to the host for all values (a sync per loss would stall a GPU).
        *raw_values, total_value = torch.stack([*terms, total]).detach().float().tolist()
        values = {spec.label: v for (spec, _), v in zip(self.losses, raw_values)}
        weighted = {spec.label: spec.options.weight * values[spec.label] for spec, _ in self.losses}
        if not math.isfinite(total_value):
            bad = [label for label, v in values.items() if not math.isfinite(v)] or ["total"]
            raise NonFiniteLossError(
                f"the loss became {total_value} at step {step + 1} (from {', '.join(repr(b) for b in bad)}); "
                "the run stopped. Lower the learning rate or that loss's weight."
            )
        self._last_good = image.detach()
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        # The update (with its projection), the step count and the random state change as one:
        # an interruption between them would checkpoint a state no uninterrupted run passes through.
        with interrupts_deferred():
            if needs_closure(self.optimizer):
                self.optimizer.step(self._closure(step, total))
            else:
                self.optimizer.step()
            with torch.no_grad():
                self.parameterization.project()
            self.step = step + 1
            self._rng = checkpoint.rng_state(self.ctx.device)

        record = {"step": self.step, "total": total_value, "losses": weighted, "raw": values,
                  "lr_factor": factor, "seconds": time.perf_counter() - started}
        self.history.append(record)
        if self._log is not None:
            self._log.write(record)
        bar.set_postfix({"loss": f"{total_value:.4g}", **{k: f"{v:.3g}" for k, v in list(weighted.items())[:4]}}, refresh=False)
        bar.update(1)
        self._call("on_step", step=self.step, image=self._last_good, losses={**weighted, "total": total_value})
        if settings.save_every and self.step % settings.save_every == 0 and self.step < settings.steps:
            document = self.document("running")
            self._save(self._last_good, self.output_dir / "steps" / f"step_{self.step:05d}.png", document)
            self._checkpoint(document)

    def _evaluate(self, step: int, replay: bool = False) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """The image, the weighted total loss and each loss's raw value. ``replay`` makes the
        same augmented views as the last evaluation instead of drawing new ones."""
        image = self.parameterization()
        views = None
        if self.chain is not None:
            views = self.chain.replay(image) if replay else self.chain(image)
        inputs = StepInputs(image=image, views=views, step=step, steps=self.settings.steps, augment=self.chain)
        total = image.new_zeros(())
        terms = []
        for spec, loss in self.losses:
            value = loss(inputs)
            if not isinstance(value, torch.Tensor) or value.numel() != 1:
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise PluginError(f"loss '{spec.label}' (plugin '{spec.entry.plugin}') returned {shape}, not a scalar tensor")
            terms.append(value.reshape(()))
            total = total + spec.options.weight * value.reshape(())
        return image, total, terms

    def _closure(self, step: int, first: torch.Tensor):
        """The loss again for optimisers that evaluate it several times per step (L-BFGS).
        Its first call returns the evaluation the step already made and backpropagated; later
        calls replay the step's views, so the line search sees one objective."""
        pending = [first.detach()]

        def closure() -> torch.Tensor:
            if pending:
                return pending.pop()
            self.optimizer.zero_grad(set_to_none=True)
            _, total, _ = self._evaluate(step, replay=True)
            total.backward()
            return total.detach()

        return closure

    # -- outputs --------------------------------------------------------------------------

    def metadata(self, status: str) -> dict:
        return {
            "pixengine": __version__,
            "status": status,
            "step": self.step,
            "steps": self.settings.steps,
            # Seconds of optimisation (building and writing not included), across resumes.
            "seconds": round(self._seconds_before + sum(record["seconds"] for record in self.history), 3),
            "seed": self.ctx.seed if self.ctx else None,
            "device": str(self.ctx.device) if self.ctx else None,
            "torch": str(torch.__version__),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "plugins": self.spec.plugin_versions(self.registry),
            "files": self.files,
            "weights": self.weights,
            **({"resumed_at": self._resumed_at} if self._resumed_at else {}),
            **({"stopped": self.stop_reason} if status == "stopped" else {}),
        }

    def document(self, status: str) -> str:
        return run_document(OmegaConf.to_container(self.config, resolve=True), self.metadata(status))

    def _save(self, image: torch.Tensor, path: Path, document: str) -> Path:
        save_png(path, tensor_to_pil(image), document)
        self.paths.append(path)
        return path

    def _checkpoint(self, document: str) -> None:
        if not self.settings.outputs.checkpoint or self.output_dir is None or self.optimizer is None:
            return
        path = checkpoint.save(
            self.output_dir / checkpoint.CHECKPOINT_NAME,
            step=self.step,
            size=(self.ctx.width, self.ctx.height),
            parameterization=self.parameterization,
            optimizer=self.optimizer,
            rng=self._rng,
            document=document,
        )
        if path not in self.paths:
            self.paths.append(path)
        self._checkpoint_path = path

    def resume(self, folder: str | Path) -> "Run":
        """Go on from the checkpoint in ``folder`` (written by a run of the same config): the
        parameterization's tensors, the optimiser's state, the step and the random state."""
        payload = checkpoint.load(Path(folder))
        step, (width, height) = payload["step"], payload["size"]
        if step >= self.settings.steps:
            raise PixengineError(
                f"the run in '{folder}' already did {step} of its {self.settings.steps} steps; "
                f"give steps=N (more than {step}) to go on"
            )
        expected = (self.settings.width, self.settings.height)
        for change in self.settings.grow:
            if change.at < step:
                expected = (change.width, change.height)
        if (width, height) != expected:
            raise PixengineError(
                f"the run in '{folder}' stopped at {width}x{height}, but this config makes it {expected[0]}x{expected[1]} "
                f"at step {step}; width, height and grow cannot change when resuming"
            )
        if (width, height) != (self.ctx.width, self.ctx.height):  # it had grown before it stopped
            self.parameterization.resize(width, height)
            self.ctx.width, self.ctx.height = width, height
        self.optimizer = self._make_optimizer()
        # The optimiser's state comes from the checkpoint, its settings (rates) from this config.
        settings = [{k: v for k, v in group.items() if k != "params"} for group in self.optimizer.param_groups]
        checkpoint.restore(self.parameterization, self.optimizer, payload, Path(folder) / checkpoint.CHECKPOINT_NAME)
        for group, own in zip(self.optimizer.param_groups, settings):
            group.update(own)
        checkpoint.restore_rng(payload["rng"], self.ctx.device, Path(folder) / checkpoint.CHECKPOINT_NAME)
        self.step, self._rng = step, payload["rng"]
        recorded = parse_run_document(payload["document"], str(Path(folder) / checkpoint.CHECKPOINT_NAME))
        earlier = recorded.get("resumed_at") or []
        self._seconds_before = float(recorded.get("seconds") or 0.0)
        self._resumed_at = [*earlier, step]
        with torch.no_grad():
            self._last_good = self.parameterization().detach()
        return self

    def _final_image(self) -> torch.Tensor | None:
        try:
            with torch.no_grad():
                image = self.parameterization()
            if torch.isfinite(image).all():
                return image.detach()
        except Exception:  # the run is already ending; fall back to the last good image
            pass
        return self._last_good

    def _finish(self, status: str) -> RunResult:
        # A second Ctrl-C (or SIGTERM) while the last image is written waits for it to be whole.
        with interrupts_deferred("writing the last image and checkpoint; they will be complete in a moment"):
            return self._write_final(status)

    def _write_final(self, status: str) -> RunResult:
        final = self._last_good if status == "nonfinite" else self._final_image()
        final_path = None
        # One document for the PNG, the YAML beside it and the checkpoint.
        document = self.document(status)
        if final is not None:
            final_path = self._save(final, self.output_dir / FINAL_NAME, document)
        self.paths.append(write_text(self.output_dir / RUN_YAML, document))
        if final is not None:
            if status in ("finished", "interrupted", "stopped"):
                self._checkpoint(document)
            if status == "finished":
                for extra in self.parameterization.export(str(final_path.with_suffix(""))):
                    self.paths.append(Path(extra))
        if self._log is not None:
            self._log.close()
        result = RunResult(
            status=status,
            output_dir=self.output_dir,
            final_path=final_path,
            paths=self.paths,
            config=self.config,
            steps_done=self.step,
            tensor=final.cpu() if final is not None else None,
            history=self.history,
            checkpoint_path=self._checkpoint_path,
        )
        self._call("on_run_end", result=result)
        return result

    def _call(self, hook: str, **kwargs: Any) -> None:
        """Call every plugin's implementation of a lifecycle hook with the run's view; one that
        raises stops the run with a message naming the plugin and the hook."""
        if self._hooks is None:
            return
        kwargs["run"] = self.view
        # pluggy's calling order (last registered first), one plugin at a time so a failure
        # can be pinned on its plugin.
        for impl in reversed(getattr(self._hooks, hook).get_hookimpls()):
            try:
                impl.function(**{name: kwargs[name] for name in impl.argnames})
            except (KeyboardInterrupt, PixengineError):
                raise
            except Exception as exc:
                raise PluginError(f"plugin '{impl.plugin_name}' failed in {hook}: {type(exc).__name__}: {exc}") from exc
