"""Every config in the packaged ``conf/`` composes and instantiates.

The lists are read from the folder, so a new file is tested automatically.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

import odenet.train  # noqa: F401  (registers the odenet.* resolvers)
from odenet.data import DataSplits
from odenet.solvers import METHODS, ImplicitRungeKutta, Method, Rosenbrock
from odenet.train import validate_config

CONF = resources.files("odenet.conf")

# models that need another data set than the default digits
MODEL_DATA = {
    "mlp_resnet": "annuli",
    "node": "annuli",
    "anode": "annuli",
    "cnf": "eight_gaussians",
    "latent_ode": "irregular_spirals",
    "ncde": "cde_spirals",
    "odernn_classifier": "cde_spirals",
}


def choices(group: str) -> list[str]:
    return sorted(p.name[:-5] for p in (CONF / group).iterdir() if p.name.endswith(".yaml"))


def compose_cfg(overrides: list[str], tmp_path: Path, hydra_cfg: bool = False) -> DictConfig:
    with initialize_config_module(config_module="odenet.conf", version_base="1.3"):
        return compose(
            "config",
            overrides=[*overrides, f"run_dir={tmp_path}"],
            return_hydra_config=hydra_cfg,
        )


def test_the_groups_of_the_issue_exist() -> None:
    for group in ("model", "solver", "gradient", "data", "optim", "trainer", "experiment"):
        assert choices(group), f"conf/{group}/ is empty"
    assert set(choices("solver")) >= {
        "euler", "midpoint", "heun", "rk4", "bosh3", "dopri5", "tsit5", "dopri8",
        "kvaerno5", "rodas5", "implicit_adams",
    }  # fmt: skip
    assert set(choices("gradient")) == {"autograd", "adjoint", "checkpoint", "reversible"}


def test_default_config_validates(tmp_path: Path) -> None:
    cfg = compose_cfg([], tmp_path)
    validate_config(cfg)
    assert cfg.data.name == "digits" and cfg.model._target_ == "odenet.models.ODENet"


@pytest.mark.parametrize("name", choices("solver"))
def test_solver_config_instantiates(name: str, tmp_path: Path) -> None:
    extra = ["gradient=reversible"] if name == "reversible_heun" else []
    cfg = compose_cfg([f"solver={name}", "model.channels=4", *extra], tmp_path)
    validate_config(cfg)
    method = instantiate(cfg.solver.method)
    assert method.name == name
    if name == "reversible_heun":  # not a Method: the reversible gradient's own solver
        assert method.reversible
    else:
        assert isinstance(method, Method)
        # the config selects the same method as the string shortcut method=<name>
        assert type(method) is METHODS[name]
    if method.adaptive:
        assert cfg.solver.step_size is None
    else:
        assert cfg.solver.step_size == pytest.approx(1.0 / cfg.solver.steps)
    if isinstance(method, ImplicitRungeKutta | Rosenbrock):
        # Newton/Rosenbrock methods build the Jacobian of the whole state: seconds for the
        # conv model's 4x8x8 state, so train-step the 2-D vector model instead
        cfg = compose_cfg([f"solver={name}", "model=node", "data=annuli"], tmp_path)
        validate_config(cfg)
        model = instantiate(cfg.model)
        out = model(torch.randn(3, 2, generator=torch.Generator().manual_seed(0)))
        assert out.shape == (3, 2)
        out.square().sum().backward()
        assert all(p.grad is not None and p.grad.isfinite().all() for p in model.parameters())
        return
    model = instantiate(cfg.model)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_odenet_train_composes_a_stiff_solver(tmp_path: Path) -> None:
    """``odenet-train solver=kvaerno5`` composes: the CLI prints the job config (no run)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    proc = subprocess.run(
        [sys.executable, "-m", "odenet.train", "solver=kvaerno5", "--cfg", "job"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    cfg = OmegaConf.create(proc.stdout)
    assert cfg.solver.name == "kvaerno5" and cfg.solver.step_size is None
    assert cfg.solver.method._target_ == "odenet.solvers.Kvaerno5"
    assert not list(tmp_path.iterdir())  # nothing was written: no run started


@pytest.mark.parametrize("name", choices("gradient"))
def test_gradient_config_instantiates(name: str, tmp_path: Path) -> None:
    cfg = compose_cfg([f"gradient={name}", "model.channels=4"], tmp_path)
    validate_config(cfg)
    model = instantiate(cfg.model)
    assert model.ode.gradient.name == name
    model(torch.randn(3, 1, 8, 8)).square().sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    # plain autograd differentiates recorded steps; the others call the field again
    assert (model.ode.nfe_backward == 0) == (name == "autograd")


@pytest.mark.parametrize("name", choices("model"))
def test_model_config_instantiates(name: str, tmp_path: Path) -> None:
    data = MODEL_DATA.get(name, "digits")
    cfg = compose_cfg([f"model={name}", f"data={data}", "solver.steps=1"], tmp_path)
    validate_config(cfg)
    model = instantiate(cfg.model)
    assert isinstance(model, get_class(cfg.model._target_))
    assert sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.parametrize("name", choices("data"))
def test_data_config_instantiates(name: str, tmp_path: Path) -> None:
    cfg = compose_cfg([f"data={name}"], tmp_path)
    if "root" in cfg.data:
        # file-backed sets: the configured root reaches the loader, which names its files
        with pytest.raises(InstantiationException, match=r"data.root=.*never downloads"):
            instantiate(cfg.data.dataset)
        return
    splits = instantiate(cfg.data.dataset)
    assert isinstance(splits, DataSplits) and len(splits.train) > 0 and len(splits.test) > 0
    assert splits.num_classes == cfg.data.get("num_classes")
    assert splits.task == cfg.data.task  # the declared task the model/data check relies on


@pytest.mark.parametrize("name", choices("optim"))
def test_optim_config_instantiates(name: str, tmp_path: Path) -> None:
    cfg = compose_cfg([f"optim={name}"], tmp_path)
    params = [torch.nn.Parameter(torch.ones(3))]
    optimizer = instantiate(cfg.optim.optimizer)(params=params)
    scheduler = instantiate(cfg.optim.scheduler)(optimizer=optimizer)
    assert optimizer.param_groups[0]["lr"] == cfg.optim.optimizer.lr
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] < cfg.optim.optimizer.lr  # the schedule decays


@pytest.mark.parametrize("name", choices("trainer"))
def test_trainer_config_validates(name: str, tmp_path: Path) -> None:
    cfg = compose_cfg([f"trainer={name}"], tmp_path)
    validate_config(cfg)
    assert cfg.trainer.distributed == (name == "ddp")


@pytest.mark.parametrize("name", choices("experiment"))
def test_experiment_config_validates(name: str, tmp_path: Path) -> None:
    text = (CONF / "experiment" / f"{name}.yaml").read_text()
    assert text.startswith("# @package _global_"), f"experiment/{name}.yaml must be global"
    cfg = compose_cfg([f"experiment={name}"], tmp_path)
    validate_config(cfg)


LAUNCHER_TARGETS = {
    "slurm": "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher",
    "parallel": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
}


@pytest.mark.parametrize("name", choices("hydra/launcher"))
def test_launcher_preset_composes(name: str, tmp_path: Path) -> None:
    target = LAUNCHER_TARGETS[name]
    plugin = target.split(".")[1]
    try:
        __import__(f"hydra_plugins.{plugin}")
    except ImportError:
        pytest.skip(f"launcher plugin {plugin} is not installed (pip install 'odenet[launchers]')")
    cfg = compose_cfg([f"hydra/launcher={name}"], tmp_path, hydra_cfg=True)
    assert cfg.hydra.launcher._target_ == target
    assert get_class(target) is not None
    if name == "slurm":
        assert cfg.hydra.launcher.timeout_min > 0 and cfg.hydra.launcher.gpus_per_node == 1
