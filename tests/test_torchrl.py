"""The TorchRL env, the BenchMARL task and the PettingZoo adapter seen through TorchRL.

Skipped without ``samarl[torchrl]``. Tiny sizes: the whole file runs in seconds on 2 cores.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchrl")
pytest.importorskip("tensordict")

from torchrl.envs import SerialEnv  # noqa: E402
from torchrl.envs.utils import check_env_specs  # noqa: E402

from samarl.envs import DemandResponseEnv, lagrangian_reward, parallel_env  # noqa: E402
from samarl.envs.torchrl import DemandResponseTorchRLEnv  # noqa: E402
from samarl.errors import InvalidValueError, ShapeError  # noqa: E402

N = 5
ACT = ("household", "action")


def _env(**kw: object) -> DemandResponseTorchRLEnv:
    kw = {"num_agents": N, "episode_steps": 6, "seed": 3} | kw
    return DemandResponseTorchRLEnv("small", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kw", [{}, {"num_envs": 3}, {"num_envs": 2, "mult_max": 4.0}, {"mult": [1.0] * 24}]
)
def test_check_env_specs_passes(kw: dict[str, object]) -> None:
    env = _env(**kw)
    check_env_specs(env)
    td = env.reset()
    batch = list(env.batch_size)
    assert td["household", "observation"].shape == (*batch, N, 7)
    assert env.full_action_spec[ACT].shape == (*batch, N, 1)
    has_mult = ("household", "mult") in td.keys(True)
    assert has_mult == ("mult_max" in kw or "mult" in kw)


def test_same_trajectory_as_the_engine() -> None:
    env = _env()
    ref = DemandResponseEnv("small", num_agents=N, episode_steps=6)
    obs0 = ref.reset(seed=3).copy()
    actions = torch.rand(6, N, 1, generator=torch.Generator().manual_seed(0))
    it = iter(actions)
    roll = env.rollout(6, policy=lambda td: td.set(ACT, next(it)))
    np.testing.assert_array_equal(roll["household", "observation"][0].numpy(), obs0)
    for t in range(6):
        out = ref.step(actions[t, :, 0].numpy())
        nxt = roll["next"][t]
        np.testing.assert_array_equal(nxt["household", "observation"].numpy(), out.obs)
        np.testing.assert_array_equal(nxt["household", "reward"][:, 0].numpy(), out.reward)
        use = nxt["household", "info", "resource_use"].numpy()
        np.testing.assert_array_equal(use, out.resource_use)
        np.testing.assert_array_equal(nxt["household", "info", "served"].numpy(), out.served)
        np.testing.assert_allclose(nxt["constraint", "total_use"].item(), use.sum(), rtol=1e-6)
        assert nxt["constraint", "capacity"].item() == pytest.approx(float(ref.capacity[t]))
        assert nxt["constraint", "block"].item() == int(ref.block_of_step[t])
        assert bool(nxt["truncated"]) == out.truncated == bool(nxt["done"])
        assert not bool(nxt["terminated"])
    assert roll.shape == (6,)  # the rollout stops at the truncation


def test_steps_own_their_tensors() -> None:
    env = _env()
    td = env.reset()
    td.set(ACT, torch.full((N, 1), 0.5))
    first = env.step(td)["next"]
    kept = first["household", "observation"].clone()
    td2 = first.clone().set(ACT, torch.zeros(N, 1))
    env.step(td2)
    assert torch.equal(first["household", "observation"], kept)  # not overwritten by the engine


def _assert_same(a: object, b: object) -> None:
    """Two tensordicts with the same keys, batch sizes, dtypes, shapes and values."""
    from tensordict import TensorDictBase

    assert isinstance(a, TensorDictBase)
    assert isinstance(b, TensorDictBase)
    assert a.batch_size == b.batch_size
    assert a.device == b.device
    keys = set(a.keys(True, True))
    assert keys == set(b.keys(True, True))
    for k in keys:
        x, y = a.get(k), b.get(k)
        assert x.dtype == y.dtype, k
        assert x.shape == y.shape, k
        assert torch.equal(x, y), k
    for k in a.keys(True):  # sub-dicts: same batch sizes
        if isinstance(a.get(k), TensorDictBase):
            assert a.get(k).batch_size == b.get(k).batch_size, k


@pytest.mark.parametrize(
    "kw", [{}, {"num_envs": 3}, {"num_envs": 2, "mult_max": 4.0}, {"mult": [1.0] * 24}]
)
def test_direct_step_equals_torchrls_generic_step(kw: dict[str, object]) -> None:
    """The env's own ``step``/``step_and_maybe_reset`` (no generic post-processing) give the
    same data as TorchRL's ``EnvBase`` methods, across an episode end, with a policy's extra
    entries at the root and in the group carried over as ``step_mdp`` carries them."""
    from torchrl.envs import EnvBase

    fast, generic = _env(**kw), _env(**kw)
    gen = torch.Generator().manual_seed(1)
    root_f, root_g = fast.reset(), generic.reset()
    _assert_same(root_f, root_g)
    batch = tuple(fast.batch_size)
    for _ in range(14):  # two episodes of 6 steps and a bit: both resets go through maybe_reset
        action = torch.rand(*batch, N, 1, generator=gen)
        extra = torch.rand(*batch, N, 2, generator=gen)
        for root in (root_f, root_g):
            root.set(ACT, action.clone())
            root.set(("household", "loc"), extra.clone())  # what a policy module adds
            root.set("sample_log_prob", extra.sum((-1, -2)))
        step_f, root_f = fast.step_and_maybe_reset(root_f)
        step_g = EnvBase.step(generic, root_g)
        root_g = generic.maybe_reset(generic._step_mdp(step_g))
        _assert_same(step_f, step_g)
        _assert_same(root_f, root_g)
        assert root_f.get("household") is not step_f.get("next").get("household")
        assert root_f.get(("household", "info")) is not step_f.get(("next", "household", "info"))
    td = fast.reset().set(ACT, torch.rand(*batch, N, 1, generator=gen))
    _assert_same(fast.step(td.clone()), EnvBase.step(generic, generic.reset().set(ACT, td[ACT])))


def test_a_collector_gets_the_same_batches_from_both_paths() -> None:
    """TorchRL's collector (root keys of its own, a policy module, resets between batches)."""
    from tensordict.nn import TensorDictModule
    from torchrl.collectors import Collector

    batches = []
    for direct in (True, False):
        env = _env(num_envs=2, mult_max=3.0)
        if not direct:
            env._plain = lambda td: False  # type: ignore[method-assign]
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(7, 1), torch.nn.Sigmoid())
        policy = TensorDictModule(net, in_keys=[("household", "observation")], out_keys=[ACT])
        collector = Collector(env, policy, frames_per_batch=20, total_frames=40)
        batches.append([b.clone() for b in collector])
        collector.shutdown()
    assert len(batches[0]) == 2
    for a, b in zip(*batches, strict=True):
        assert ("collector", "traj_ids") in a.keys(True)
        _assert_same(a, b)


def test_direct_step_hands_unusual_input_to_torchrl() -> None:
    """A preset ``"next"`` (TorchRL adds its entries the step does not write) and a root
    sub-dict with entries the step does not write both take TorchRL's own path."""
    env = _env()
    td = env.reset().set(ACT, torch.full((N, 1), 0.5))
    preset = torch.full((N, 1), -7.0)
    td.set(("next", "household", "bonus"), preset)
    out = env.step(td)
    assert torch.equal(out["next", "household", "bonus"], preset)
    assert ("next", "household", "observation") in out.keys(True)
    root = env.reset().set(ACT, torch.full((N, 1), 0.5))
    root.set(("constraint", "note"), torch.ones(1))
    _, nxt = env.step_and_maybe_reset(root)
    assert torch.equal(nxt["constraint", "note"], torch.ones(1))  # kept, as step_mdp keeps it
    assert nxt["constraint", "block"].shape == (1,)
    with pytest.raises(ShapeError, match="action"):
        env.step_and_maybe_reset(env.reset().set(ACT, torch.zeros(N, 2)))


def test_batched_populations_and_seeding() -> None:
    env = _env(num_envs=3)
    arrived = env.rollout(4)["next", "household", "info", "arrived"]  # [3, 4, N] (batch first)
    assert arrived.shape == (3, 4, N)
    assert not torch.equal(arrived[0], arrived[1])  # each population draws its own arrivals
    again = _env(num_envs=3).rollout(4)["next", "household", "info", "arrived"]
    assert torch.equal(arrived, again)  # same seed, same arrivals

    serial = SerialEnv(2, lambda: DemandResponseTorchRLEnv("small", num_agents=N))
    serial.set_seed(7)
    arr = serial.rollout(3)["next", "household", "info", "arrived"]
    assert not torch.equal(arr[0], arr[1])  # TorchRL seeds its envs differently
    serial.close()


def test_mult_observation_and_lagrangian_reward() -> None:
    mult = np.linspace(0.0, 2.3, 24, dtype=np.float32)
    env = _env(mult=mult)
    ref = DemandResponseEnv("small", num_agents=N, episode_steps=6)
    ref.reset(seed=3)
    td = env.reset()
    np.testing.assert_array_equal(td["household", "mult"][0].numpy(), mult)
    for t in range(3):
        out = ref.step(np.full(N, 0.7, np.float32))
        h = int(ref.block_of_step[t])
        want = lagrangian_reward(out.reward, out.resource_use, mult[h], ref.capacity_per_agent[t])
        td = env.step(td.set(ACT, torch.full((N, 1), 0.7)))["next"]
        np.testing.assert_allclose(td["household", "reward"][:, 0].numpy(), want, rtol=1e-6)
        rolled = np.roll(mult, -int(ref.block_of_step[t + 1]))
        np.testing.assert_array_equal(td["household", "mult"][0].numpy(), rolled)

    drawn = _env(mult_max=3.0, num_envs=2).reset()["household", "mult"]
    assert drawn.shape == (2, N, 24)
    assert 0.0 <= float(drawn.min())
    assert float(drawn.max()) <= 3.0
    assert not torch.equal(drawn[0], drawn[1])


def test_bad_arguments() -> None:
    with pytest.raises(ShapeError, match="mult"):
        _env(mult=[1.0, 2.0])
    with pytest.raises(InvalidValueError, match="mult"):
        _env(mult=1.0, mult_max=2.0)
    with pytest.raises(InvalidValueError, match="device"):
        _env(device="meta")
    env = _env(num_envs=2)
    td = env.reset()
    td.set("_reset", torch.tensor([[True], [False]]))
    with pytest.raises(RuntimeError, match="reset together"):
        env.reset(td)
    bad = torch.full((2, N, 1), 0.5)
    bad[1, 2, 0] = float("nan")
    for step in (env.step, env.step_and_maybe_reset, env._step):
        with pytest.raises(InvalidValueError, match="actions"):
            step(env.reset().set(ACT, bad))
    env.step(env.reset().set(ACT, bad.nan_to_num(0.5).double()))  # other dtypes are converted
    assert env.env.t == 1


def test_samarl_envs_imports_without_torchrl(monkeypatch: pytest.MonkeyPatch) -> None:
    import samarl.envs

    for name in ("torchrl", "tensordict", "benchmarl"):
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    for name in ("samarl.envs.torchrl", "samarl.envs.benchmarl"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    importlib.reload(samarl.envs)
    with pytest.raises(ImportError):
        importlib.import_module("samarl.envs.torchrl")


# -- the PettingZoo adapter through TorchRL's wrapper ------------------------------------------------
def test_pettingzoo_reset_has_the_step_info_keys() -> None:
    env = parallel_env(preset="small", num_agents=3)
    _, infos = env.reset(seed=0)
    _, _, _, _, step_infos = env.step(dict.fromkeys(env.agents, np.array([0.5], np.float32)))
    assert {a: set(i) for a, i in infos.items()} == {a: set(i) for a, i in step_infos.items()}
    assert all(v == 0.0 for i in infos.values() for v in i.values())


@pytest.mark.filterwarnings("ignore:PettingZoo in TorchRL is tested:UserWarning")
def test_pettingzoo_wrapper_keeps_the_info() -> None:
    from torchrl.envs import PettingZooWrapper

    env = PettingZooWrapper(
        env=parallel_env(preset="small", num_agents=3), use_mask=False, categorical_actions=False
    )
    check_env_specs(env)
    roll = env.rollout(3)
    assert roll["next", "household", "info", "resource_use"].shape[:2] == (3, 3)


# -- BenchMARL ----------------------------------------------------------------------------------------
def test_benchmarl_task_from_yaml() -> None:
    pytest.importorskip("benchmarl")
    from samarl.envs.benchmarl import SamarlTask, TaskConfig

    task = SamarlTask.DEMAND_RESPONSE.get_from_yaml()
    assert task.config == TaskConfig().__dict__
    env = task.get_env_fun(num_envs=2, continuous_actions=True, seed=0, device="cpu")()
    assert env.batch_size == (2,)
    assert task.max_steps(env) == env.episode_steps
    assert list(task.group_map(env)) == ["household"]
    assert set(task.observation_spec(env)["household"].keys()) == {"observation"}
    assert set(task.info_spec(env)["household", "info"].keys()) == {
        "resource_use",
        "served",
        "arrived",
    }


if importlib.util.find_spec("benchmarl") is not None:
    with warnings.catch_warnings():  # BenchMARL imports TorchRL's deprecated collector classes
        warnings.simplefilter("ignore", DeprecationWarning)
        from benchmarl.experiment.callback import Callback

    class _KeepBatches(Callback):  # type: ignore[misc]
        """Keeps the collected batches (at module level: BenchMARL pickles its callbacks)."""

        batches: list = []  # noqa: RUF012

        def on_batch_collected(self, batch: object) -> None:
            _KeepBatches.batches.append(batch)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # BenchMARL's own SyncDataCollector
@pytest.mark.parametrize("algo", ["mappo", "ippo"])
def test_benchmarl_trains_and_sees_the_constraint(algo: str, tmp_path: object) -> None:
    pytest.importorskip("benchmarl")
    from benchmarl.algorithms import IppoConfig, MappoConfig
    from benchmarl.experiment import Experiment, ExperimentConfig
    from benchmarl.models.mlp import MlpConfig

    from samarl.envs.benchmarl import SamarlClass, SamarlTask

    task = SamarlTask.DEMAND_RESPONSE.get_task(
        config={"scenario": "small", "num_agents": 4, "episode_steps": 8, "mult_max": 2.0}
    )
    cfg = ExperimentConfig.get_from_yaml()
    cfg.save_folder = str(tmp_path)
    cfg.loggers = []
    cfg.evaluation = cfg.render = cfg.create_json = cfg.checkpoint_at_end = False
    cfg.checkpoint_interval = 0
    cfg.max_n_iters, cfg.max_n_frames = 2, None
    cfg.on_policy_collected_frames_per_batch = 32
    cfg.on_policy_n_envs_per_worker = 2
    cfg.on_policy_minibatch_size = 16
    cfg.on_policy_n_minibatch_iters = 1
    algo_config = {"mappo": MappoConfig, "ippo": IppoConfig}[algo].get_from_yaml()
    experiment = Experiment(
        task=task,
        algorithm_config=algo_config,
        model_config=MlpConfig.get_from_yaml(),
        critic_model_config=MlpConfig.get_from_yaml(),
        seed=0,
        config=cfg,
        callbacks=[_KeepBatches()],
    )
    experiment.run()
    assert experiment.n_iters_performed == 2
    batch = _KeepBatches.batches[-1]
    assert batch["next", "household", "info", "resource_use"].shape == (2, 16, 4)
    use, cap = batch["next", "constraint", "total_use"], batch["next", "constraint", "capacity"]
    assert bool((cap > 0).all())
    assert bool((use >= 0).all())
    logged = SamarlClass.log_info(batch)
    assert logged["constraint/excess"] == pytest.approx(float((use - cap).mean()))


@pytest.mark.filterwarnings("ignore:PettingZoo in TorchRL is tested:UserWarning")
def test_bench_envs_runs() -> None:
    from samarl.benchmarks.torchrl_envs import report, run_env_benchmarks

    threads = torch.get_num_threads()
    result = run_env_benchmarks((8, 32), repeats=1, min_time=0.01, max_wrapper_n=8)
    text = report(result)
    assert "skipped at N = 32" in text
    row = result["rows"][0]
    assert all(row[k] > 0 for k in ("engine", "pettingzoo", "torchrl_pz", "torchrl"))
    assert result["torch_threads"] == 1
    assert torch.get_num_threads() == threads  # restored after timing with one thread

    batched = run_env_benchmarks((8,), repeats=1, min_time=0.01, num_envs=3)
    row = batched["rows"][0]
    assert row["pettingzoo"] is None
    assert row["torchrl_pz"] is None
    assert row["engine"] > 0
    assert row["torchrl"] > 0
    assert "3 populations" in report(batched)
