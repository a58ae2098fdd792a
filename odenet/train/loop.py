"""``train(cfg) -> dict``: the training loop behind ``odenet-train``.

A plain function of a composed config (see ``conf/config.yaml``), testable without the
command line. One epoch = one pass over the training set (shuffled with a
``DistributedSampler`` seeded by ``seed`` and the epoch, so the order is the same with or
without resuming, and the union of the ranks' i-th batches is the single-process i-th
batch), then an evaluation on the test set, a scheduler step, an atomic checkpoint and a
metrics record.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm.auto import tqdm

from odenet.data.splits import DataSplits
from odenet.errors import CheckpointError, NonFiniteLoss, SolverError
from odenet.runs.load import BEST_NAME, checkpoint_path, model_state
from odenet.runs.lock import RunDirLock
from odenet.runs.weights import load_model_state
from odenet.train.checkpoint import (
    CHECKPOINT_NAME,
    load_checkpoint,
    remove_stale_temporaries,
    save_checkpoint,
)
from odenet.train.device import resolve_device
from odenet.train.distributed import (
    DistInfo,
    broadcast_object,
    init_distributed,
    launched_by_torchrun,
    mean_over_ranks,
    shutdown_distributed,
)
from odenet.train.metrics import MetricsLogger, is_best
from odenet.train.objectives import Objective, objective_for
from odenet.train.optim_params import optimizer_params
from odenet.train.resume_check import check_resume_settings, run_settings, saved_settings
from odenet.train.seeding import rng_state, seed_everything, set_rng_state
from odenet.train.validate import ConfigError, validate_config

log = logging.getLogger(__name__)

RESULTS_NAME = "results.json"


@dataclass
class RunState:
    """Everything a checkpoint restores: modules, completed epochs, metric history."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any | None
    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] | None = None  # run_settings(cfg), compared on resume

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "epoch": self.epoch,
            "history": self.history,
            "rng": rng_state(),
            "settings": self.settings,
        }

    def load_state_dict(self, state: dict[str, Any], source: str = "the checkpoint") -> None:
        """Restore from a checkpoint; :class:`CheckpointError` naming ``source`` when it is
        not a training checkpoint of this model and optimizer."""
        fix = "start a new run directory, or pass resume=false to start over in this one"
        keys = ("model", "optimizer", "epoch", "history", "rng")
        missing = [k for k in keys if k not in state] if isinstance(state, dict) else keys
        if missing:
            raise CheckpointError(
                f"{source} is not an odenet-train checkpoint (no {list(missing)}); {fix}"
            )
        load_model_state(self.model, state["model"], source, fix)
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            if self.scheduler is not None and state["scheduler"] is not None:
                self.scheduler.load_state_dict(state["scheduler"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(
                f"{source}: its optimizer state does not fit optim={type(self.optimizer).__name__} "
                f"({exc}); it was written under another optimizer; {fix}"
            ) from None
        self.epoch = int(state["epoch"])
        self.history = list(state["history"])
        set_rng_state(state["rng"])


def ode_blocks(model: nn.Module) -> list[nn.Module]:
    """Sub-modules that count function evaluations (``nfe_forward`` / ``nfe_backward``)."""
    return [m for m in model.modules() if hasattr(m, "nfe_forward")]


def _nfe(blocks: list[nn.Module], attr: str) -> int:
    return sum(int(getattr(b, attr)) for b in blocks)


def _loader(dataset: Dataset, batch_size: int, info: DistInfo, seed: int, shuffle: bool):
    sampler = DistributedSampler(
        dataset, num_replicas=info.world_size, rank=info.rank, shuffle=shuffle, seed=seed
    )
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler), sampler


def _per_rank_batch(cfg: DictConfig, info: DistInfo) -> int:
    global_batch = int(cfg.data.batch_size)
    if global_batch % info.world_size:
        raise ConfigError(
            f"data.batch_size={global_batch} (the global batch) must be divisible by the "
            f"number of processes {info.world_size}"
        )
    return global_batch // info.world_size


def _sum_stats(total: dict[str, torch.Tensor], stats: dict[str, torch.Tensor]) -> None:
    for key, value in stats.items():
        total[key] = total.get(key, 0.0) + value.detach().double().cpu()


def _means(total: dict[str, torch.Tensor], prefix: str, info: DistInfo) -> dict[str, float]:
    keys = sorted(total)
    sums = torch.stack([torch.as_tensor(total[k], dtype=torch.float64) for k in keys])
    sums = mean_over_ranks(sums, info) * info.world_size
    count = float(sums[keys.index("count")])
    means = {f"{prefix}_{k}": float(v) / count for k, v in zip(keys, sums, strict=True)}
    means.pop(f"{prefix}_count")
    return means


def _to(batch: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    return [b.to(device, non_blocking=True) for b in batch]


_DIVERGED_FIX = (
    "lower optim.optimizer.lr or tighten solver.rtol/atol (trainer.on_nonfinite_loss=stop "
    "ends such runs with a record instead, e.g. in learning-rate sweeps)"
)


@contextlib.contextmanager
def _solver_failures_diverge(desc: str) -> Iterator[None]:
    """A :class:`~odenet.errors.SolverError` inside a training step (NaN state, step-size
    underflow, max steps: how a diverging ODE model fails) becomes :class:`NonFiniteLoss`."""
    try:
        yield
    except SolverError as exc:
        raise NonFiniteLoss(f"the ODE solve failed at {desc} ({exc}); {_DIVERGED_FIX}") from exc


def train_epoch(
    model: nn.Module,
    objective: Objective,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    info: DistInfo,
    gradient_clip: float | None,
    desc: str,
) -> dict[str, float]:
    """One pass over ``loader``; returns ``train_*`` means and, for models with ODE blocks,
    the mean function evaluations per batch of the forward and backward passes."""
    model.train()
    blocks = ode_blocks(model)
    total: dict[str, torch.Tensor] = {}
    nfe_f = nfe_b = batches = 0
    bar = tqdm(loader, desc=desc, leave=False, disable=None if info.is_main else True)
    for batch in bar:
        optimizer.zero_grad(set_to_none=True)
        with _solver_failures_diverge(desc):
            loss, stats = objective.loss(model, _to(batch, device))
        nfe_f += _nfe(blocks, "nfe_forward")
        if not torch.isfinite(loss):
            raise NonFiniteLoss(
                f"training loss is {float(loss.detach())} at {desc}; {_DIVERGED_FIX}"
            )
        with _solver_failures_diverge(desc):
            loss.backward()
        nfe_b += _nfe(blocks, "nfe_backward")
        if gradient_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), gradient_clip)
        optimizer.step()
        _sum_stats(total, stats)
        batches += 1
        bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
    out = _means(total, "train", info)
    n = max(batches, 1)
    if blocks:  # models without ODE blocks (ResNets) report no NFE
        out.update(train_nfe_forward=nfe_f / n, train_nfe_backward=nfe_b / n)
    return out


@torch.no_grad()
def evaluate(
    model: nn.Module, objective: Objective, loader: DataLoader, device: torch.device
) -> dict[str, float]:
    """``test_*`` means over ``loader`` and, for models with ODE blocks, the mean NFE per
    batch (this process only)."""
    model.eval()
    blocks = ode_blocks(model)
    total: dict[str, torch.Tensor] = {}
    nfe = batches = 0
    for batch in loader:
        with _solver_failures_diverge("the evaluation"):
            _, stats = objective.loss(model, _to(batch, device))
        nfe += _nfe(blocks, "nfe_forward")
        _sum_stats(total, stats)
        batches += 1
    out = _means(total, "test", DistInfo())
    if blocks:
        out["test_nfe_forward"] = nfe / max(batches, 1)
    return out


def _build(cfg: DictConfig, device: torch.device) -> RunState:
    model = instantiate(cfg.model).to(device)
    factory = instantiate(cfg.optim.optimizer)
    optimizer = factory(params=optimizer_params(model, factory))
    sched_cfg = OmegaConf.select(cfg, "optim.scheduler")
    scheduler = None if sched_cfg is None else instantiate(sched_cfg)(optimizer=optimizer)
    return RunState(model, optimizer, scheduler)


def _maybe_resume(state: RunState, run_dir: Path, resume: bool) -> bool:
    """Load ``run_dir/last.ckpt`` when ``resume`` and it exists, after checking that it was
    written under the same run settings (:mod:`odenet.train.resume_check`); returns whether
    it did. A ``last.ckpt`` that is a directory is refused in any case (it could not be
    overwritten)."""
    path = run_dir / CHECKPOINT_NAME
    fix = "delete it, or pass resume=false to start over in this directory (overwrites it)"
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a directory, not a file; remove it")
    if not (resume and path.exists()):
        return False
    checkpoint = load_checkpoint(path, fix=fix)
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path} is not an odenet-train checkpoint; {fix}")
    saved = saved_settings(checkpoint, run_dir)
    if saved is None:
        log.warning("%s stores no run settings: resuming without comparing them", path)
    elif state.settings is not None:
        check_resume_settings(saved, state.settings, path)
    state.load_state_dict(checkpoint, str(path))
    log.info("resumed from %s after epoch %d", path, state.epoch)
    return True


def _init_from(model: nn.Module, source: str) -> None:
    """Fine-tuning: load only the model weights of ``source`` (a run directory, whose
    ``best.ckpt`` or else ``last.ckpt`` is used, or a checkpoint file)."""
    path = Path(source).expanduser()
    if path.is_dir():
        path = checkpoint_path(path, "best")
    fix = "init_from must name a run directory or a checkpoint of the same model settings"
    checkpoint = load_checkpoint(path, fix=fix)
    load_model_state(model, model_state(checkpoint), f"init_from={str(path)!r}", fix)
    log.info("initialised the model from %s (weights only)", path)


def _check_data(cfg: DictConfig, data: Any) -> DataSplits:
    if not isinstance(data, DataSplits):
        raise ConfigError(
            f"data.dataset._target_={cfg.data.dataset._target_!r} returned "
            f"{type(data).__name__}; it must return odenet.data.DataSplits"
        )
    expected = OmegaConf.select(cfg, "data.num_classes")
    if expected is not None and data.num_classes != expected:
        raise ConfigError(
            f"data.num_classes={expected} but the data set has {data.num_classes} classes"
        )
    task = OmegaConf.select(cfg, "data.task")
    if task is not None and data.task != task:
        raise ConfigError(
            f"data.task={task} but data.dataset returned a {data.task!r} data set; "
            f"set data.task={data.task} in the data config"
        )
    return data


def _setup(cfg: DictConfig) -> tuple[DistInfo, torch.device, Path]:
    """Device, process group (under torchrun with ``trainer.distributed``) and the run
    directory (rank 0's, so that every rank reads and writes the same place)."""
    device = resolve_device(str(cfg.trainer.device), int(os.environ.get("LOCAL_RANK", 0)))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    info = DistInfo()
    if bool(OmegaConf.select(cfg, "trainer.distributed", default=False)):
        if not launched_by_torchrun():
            log.warning("trainer.distributed=true outside torchrun: running one process")
        backend = str(OmegaConf.select(cfg, "trainer.backend", default="auto"))
        info = init_distributed(backend, device.type)
    run_dir = Path(broadcast_object(str(Path(str(cfg.run_dir)).resolve()), info))
    return info, device, run_dir


def _record(epoch: int, stats: dict[str, float], state: RunState, seconds: float) -> dict:
    record = {"epoch": epoch, **stats, "lr": state.optimizer.param_groups[0]["lr"]}
    record["epoch_time_s"] = seconds
    return record


def _record_divergence(state: RunState, logger: MetricsLogger | None, reason: str) -> None:
    """End a diverged run: a last record with ``train_loss = inf`` and ``diverged = True``
    (e.g. a too-large lr in a learning-rate sweep); no checkpoint is written for it."""
    record = {"epoch": state.epoch + 1, "train_loss": math.inf, "diverged": True}
    state.history.append(record)
    if logger is not None:
        logger.log(record)
    log.warning("%s; run stopped (trainer.on_nonfinite_loss=stop)", reason)


def train(cfg: DictConfig) -> dict[str, Any]:
    """Train the model described by ``cfg``; returns the final metrics.

    The returned dict holds the last epoch's record (``train_loss``, ``test_loss``,
    ``test_accuracy`` for classification, mean NFE per batch, ...), plus ``params`` (number
    of trainable parameters), ``wall_time_s``, ``epochs_run`` (in this call), ``run_dir``
    and ``device``. Written to ``run_dir``: ``last.ckpt``, ``best.ckpt`` (the epoch with the
    best test accuracy, or test loss; :func:`~odenet.train.metrics.is_best`),
    ``metrics.jsonl``, ``config.yaml``, ``results.json`` (rank 0 only under DDP). A
    non-finite training loss raises :class:`~odenet.errors.NonFiniteLoss` (a
    ``FloatingPointError``), or with ``trainer.on_nonfinite_loss=stop`` ends the run with a
    last record ``{"train_loss": inf, "diverged": True}`` (for learning-rate sweeps).
    ``init_from=<run dir or checkpoint>`` starts a new run from those model weights only
    (fine-tuning: fresh optimizer, schedule and epoch count; ignored when resuming).
    With ``resume=true``, an existing ``run_dir/last.ckpt`` is resumed only when it was
    written under the same run settings (``seed``, ``trainer.epochs``, ``optim``, ``model``,
    ``data``, ``solver``, ``gradient``); otherwise :class:`ConfigError` names the differing
    keys (see :mod:`odenet.train.resume_check`). The run directory is locked for the whole
    run (:class:`~odenet.runs.lock.RunDirLock`): a second run in it raises
    :class:`~odenet.errors.RunDirLocked` naming the first one's pid and host.
    """
    start = time.perf_counter()
    validate_config(cfg)
    info, device, run_dir = _setup(cfg)
    try:
        with RunDirLock(run_dir) if info.is_main else contextlib.nullcontext():
            return _train(cfg, info, device, run_dir, start)
    finally:
        shutdown_distributed(info)


def _train(cfg: DictConfig, info: DistInfo, device: torch.device, run_dir: Path, start: float):
    if OmegaConf.select(cfg, "trainer.num_threads") is not None:
        torch.set_num_threads(int(cfg.trainer.num_threads))
    seed = int(cfg.seed)
    seed_everything(seed)
    data = _check_data(cfg, instantiate(cfg.data.dataset))
    state = _build(cfg, device)
    state.settings = run_settings(cfg)
    objective = objective_for(data.task, state.model)
    if info.enabled and not objective.supports_ddp:
        raise ConfigError(
            f"trainer=ddp does not support the {data.task!r} task; use trainer=cpu or trainer=gpu"
        )
    resumed = _maybe_resume(state, run_dir, bool(cfg.resume))  # before config.yaml is rewritten
    init_from = OmegaConf.select(cfg, "init_from")
    if init_from is not None and not resumed:
        _init_from(state.model, str(init_from))
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(run_dir)
        OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
    logger = (
        MetricsLogger(run_dir, state.history, cfg.trainer.tensorboard) if info.is_main else None
    )
    net = DistributedDataParallel(state.model) if info.enabled else state.model
    train_loader, sampler = _loader(data.train, _per_rank_batch(cfg, info), info, seed, True)
    test_loader, _ = _loader(data.test, int(cfg.data.eval_batch_size), DistInfo(), seed, False)
    clip = OmegaConf.select(cfg, "trainer.gradient_clip")
    budget = OmegaConf.select(cfg, "trainer.max_epochs_per_run") or math.inf
    epochs_run = 0
    while state.epoch < int(cfg.trainer.epochs) and epochs_run < budget:
        t0 = time.perf_counter()
        sampler.set_epoch(state.epoch)
        desc = f"epoch {state.epoch + 1}/{cfg.trainer.epochs}"
        try:
            stats = train_epoch(
                net, objective, train_loader, state.optimizer, device, info, clip, desc
            )
            stats.update(evaluate(state.model, objective, test_loader, device))
        except NonFiniteLoss as exc:
            if OmegaConf.select(cfg, "trainer.on_nonfinite_loss", default="raise") == "raise":
                raise
            _record_divergence(state, logger, str(exc))
            break
        if state.scheduler is not None:
            state.scheduler.step()
        state.epoch += 1
        epochs_run += 1
        record = _record(state.epoch, stats, state, time.perf_counter() - t0)
        state.history.append(record)
        if info.is_main:
            checkpoint = state.state_dict()
            if is_best(state.history):  # first: a kill between the two redoes this epoch
                save_checkpoint(checkpoint, run_dir / BEST_NAME)
            save_checkpoint(checkpoint, run_dir / CHECKPOINT_NAME)
            logger.log(record)
            log.info("%s", " ".join(f"{k}={v:.4g}" for k, v in record.items()))
    if logger is not None:
        logger.close()
    result = _results(state, run_dir, info, epochs_run, time.perf_counter() - start, device)
    log.info("outputs in %s (device %s)", run_dir, device)
    return result


def _results(
    state: RunState,
    run_dir: Path,
    info: DistInfo,
    epochs_run: int,
    seconds: float,
    device: torch.device,
) -> dict[str, Any]:
    result: dict[str, Any] = dict(state.history[-1]) if state.history else {"epoch": 0}
    result["device"] = str(device)
    result["params"] = sum(p.numel() for p in state.model.parameters() if p.requires_grad)
    result["wall_time_s"] = seconds
    result["epochs_run"] = epochs_run
    result["run_dir"] = str(run_dir)
    if info.is_main:
        with open(run_dir / RESULTS_NAME, "w") as f:
            json.dump(result, f, indent=2)
    return result
