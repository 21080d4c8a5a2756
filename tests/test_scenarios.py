"""Scenarios: validation, shipped files, round trips, and the arrays a scenario builds."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from samarl.errors import ConfigError
from samarl.scenario import (
    BUILTIN_PROFILES,
    Constant,
    LogNormal,
    ScenarioConfig,
    Uniform,
    builtin_profile,
    dump_scenario,
    formats,
    load_scenario,
    preset_names,
    profiles,
    read_mapping,
    read_profile_csv,
)

SCENARIO_DIR = Path(__file__).parents[1] / "python" / "samarl" / "scenario" / "presets"


# -- shipped scenarios -----------------------------------------------------------------------------
def test_presets_are_the_shipped_files() -> None:
    assert set(preset_names()) == {p.stem for p in SCENARIO_DIR.glob("*.toml")}
    assert {"small", "default", "large"} <= set(preset_names())


@pytest.mark.parametrize("name", preset_names())
@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_each_shipped_scenario_loads_and_round_trips(
    name: str, suffix: str, tmp_path: Path
) -> None:
    scenario = ScenarioConfig.preset(name)
    assert scenario.name == name
    assert load_scenario(name) == scenario
    assert load_scenario(SCENARIO_DIR / f"{name}.toml") == scenario
    path = dump_scenario(scenario, tmp_path / f"{name}{suffix}")
    assert load_scenario(path) == scenario
    assert ScenarioConfig.from_dict(scenario.to_dict()) == scenario


def test_presets_take_overrides_of_any_field() -> None:
    assert ScenarioConfig.preset("small", name="mine", num_agents=3).name == "mine"
    assert load_scenario("small", name="mine").num_agents == 16


def test_preset_sizes() -> None:
    assert ScenarioConfig.preset("small").num_agents == 16
    assert ScenarioConfig.preset("default").num_agents == 1000
    assert ScenarioConfig.preset("large").num_agents == 100_000


def test_dataclass_defaults_are_the_default_preset() -> None:
    assert ScenarioConfig() == ScenarioConfig.preset("default")


def test_measured_preset_uses_the_shipped_csv() -> None:
    scenario = ScenarioConfig.preset("measured")
    assert scenario.profile_csv is not None
    assert Path(scenario.profile_csv) == SCENARIO_DIR / "measured_example.csv"
    data = scenario.build()
    assert data.profiles.shape == (8, 96)


def test_default_capacity_needs_shifting_but_is_feasible() -> None:
    data = ScenarioConfig.preset("default").build()
    demand, cap = data.expected_total_demand, data.capacity
    assert demand.mean() < cap.min()
    assert cap.max() < demand.max()
    assert cap.sum() > demand.sum()  # a day's capacity exceeds a day's demand: shifting suffices
    # The numbers quoted in default.toml.
    np.testing.assert_allclose([demand.mean(), demand.max(), cap[0]], [417, 993, 705], rtol=2e-3)
    ratio = data.max_power / (data.daily_demand / 24.0)
    assert ratio.min() >= 3.0 - 1e-4
    assert ratio.max() <= 6.0 + 1e-4


def test_overrides_and_yaml(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    scenario = ScenarioConfig.preset("small", num_agents=5, capacity_kw=(1.0, 2.0))
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"scenario": scenario.to_dict()}))
    assert load_scenario(path) == scenario
    assert load_scenario(path, noise=0.0) == scenario.replace(noise=0.0)


# -- validation ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("num_agents", 0),
        ("num_agents", 2.5),
        ("num_agents", True),
        ("dt_hours", 0.0),
        ("dt_hours", 0.7),  # 24 / 0.7 is not whole
        ("dt_hours", float("nan")),
        ("episode_days", 0.0),
        ("episode_days", 1.0 / 200),  # half a step
        ("episode_days", 1e307),  # inf steps: round() raised OverflowError (the file fuzzer)
        ("num_blocks", 0),
        ("num_blocks", 97),
        ("daily_demand", LogNormal(mean=-1.0, sigma=0.5)),
        ("daily_demand", Uniform(low=0.0, high=1.0)),
        ("power_ratio", Constant(0.0)),
        ("waiting_cost", Uniform(low=2.0, high=1.0)),
        ("waiting_cost_quadratic", Constant(-0.1)),
        ("daily_demand", 10.0),
        ("profiles", ("residential", "nope")),
        ("profiles", ()),
        ("profiles", [[]]),  # a list is no name: TypeError (unhashable) before
        ("profile_csv", "/does/not/exist.csv"),
        ("profile_data", ((1.0, -1.0),)),
        ("profile_data", ((0.0, 0.0),)),
        ("profile_data", (1.0, 2.0)),
        ("profile_assignment", "round_robin"),
        ("noise", 1.5),
        ("capacity_kw", 0.0),
        ("capacity_kw", (1.0, float("inf"))),
        ("capacity_kw", [None, []]),  # ragged: np.ndim raised ValueError before
        ("capacity_kw", "1000"),
        ("capacity_factor", -0.1),
        ("seed", -1),
        ("population_seed", 2**63),
        ("name", ""),
    ],
)
def test_invalid_field_is_named(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"^{field}: "):
        ScenarioConfig(**{field: value})  # type: ignore[arg-type]


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


def test_any_whole_number_of_steps_a_day_is_valid() -> None:
    assert ScenarioConfig(dt_hours=0.3).steps_per_day == 80
    assert ScenarioConfig(dt_hours=1.0, episode_days=0.5).episode_steps == 12


def test_unknown_field_in_a_file_suggests_the_right_one(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text("num_agent = 3\n")
    with pytest.raises(ConfigError, match=r"num_agent: unknown scenario field.*'num_agents'"):
        load_scenario(path)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("num_agents = [", "cannot parse"),
        ('daily_demand = { dist = "gamma", k = 1 }', "daily_demand: 'dist' must be one of"),
        ('daily_demand = { dist = "uniform", low = 1 }', "daily_demand: a uniform distribution"),
        ('daily_demand = "ten"', "daily_demand: expected a number or a table"),
    ],
)
def test_malformed_files(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=match):
        load_scenario(path)


def test_unknown_preset_and_file_type(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="neither a preset"):
        load_scenario("tiny")
    with pytest.raises(ConfigError, match="unknown preset"):
        ScenarioConfig.preset("tiny")
    with pytest.raises(ConfigError, match="cannot write"):
        dump_scenario(ScenarioConfig(), tmp_path / "s.yaml")
    (tmp_path / "s.ini").write_text("x")
    with pytest.raises(ConfigError, match="unknown file type"):
        load_scenario(tmp_path / "s.ini")


# -- reading scenario files safely -----------------------------------------------------------------
def yaml_alias_bomb(levels: int) -> str:
    """A few hundred bytes that PyYAML's ``safe_load`` expands to ``9**levels`` items."""
    value = "&a0 [1.0]"
    for i in range(1, levels):
        value = f"&a{i} [{value}, " + ", ".join([f"*a{i - 1}"] * 8) + "]"
    return f"num_agents: {value}\n"


def test_yaml_aliases_are_refused(tmp_path: Path) -> None:
    """9 levels (390 bytes) took 16 s and then a MemoryError under 4 GB (formatting the 9**9 items
    into the error); 10 levels, an 80 KB file, 53 s and 5.5 GB."""
    pytest.importorskip("yaml")
    path = tmp_path / "bomb.yaml"
    path.write_text(yaml_alias_bomb(10))
    with pytest.raises(ConfigError, match=r"line 1, column \d+: aliases \(\*name\) are not read"):
        load_scenario(path)
    path.write_text("base: &b {num_agents: 4}\nscenario:\n  <<: *b\n")  # merge keys use aliases
    with pytest.raises(ConfigError, match="line 3, column 7: aliases"):
        load_scenario(path)
    path.write_text("scenario: &s {num_agents: 4}\n")  # an anchor alone expands nothing
    assert load_scenario(path).num_agents == 4


def test_scenario_files_are_bounded_and_regular(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.toml"
    path.write_text("num_agents = 3\n" + "# padding\n" * 100)
    monkeypatch.setattr(formats, "MAX_CONFIG_BYTES", 1000)
    with pytest.raises(ConfigError, match=r"scenario: .* holds 1,015 bytes, more than the 1,000"):
        load_scenario(path)
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)  # reading would wait for a writer forever (samarl train --config FIFO)
    with pytest.raises(ConfigError, match=r"config: .* is not a regular file"):
        read_mapping(fifo)


@pytest.mark.parametrize(
    ("suffix", "text", "match"),
    [
        # tomllib said "Expected '=' after a key in a key/value pair (at line 2, column 2)".
        (".toml", "num_agents = 4\nnüm_agents = 5\n", r"line 2: the key 'nüm_agents' holds 'ü', which a bare TOML key cannot"),
        (".toml", "[scénario]\nnum_agents = 4\n", r"line 1: the key 'scénario' holds 'é'"),
        (".toml", "num_agents = 4\nseed = [1,\n", r"at the end of the file: Invalid value"),
        (".toml", "num_agents = 4\nnum_agents = 5\n", r"line 2, column \d+: .*: 'num_agents = 5'"),
        (".yaml", "num_agents: [1,\n", r"line 2, column 1: while parsing a flow node; expected the node content"),
        (".yaml", "num_agents: 4\nnum_agents: 5\n", r"line 2, column 1: the key 'num_agents' appears twice"),
        (".yaml", "daily_demand: {dist: lognormal, 0: 1}\n", r"line 1, column 33: the key 0 is not a string"),
        (".json", '{"num_agents": 4,\n "num_agents": 5}', r"the key 'num_agents' appears twice"),
        (".json", '{"num_agents": 4,\n}', r": line 2 column 1"),
        (".toml", "num_agents = 4\n\xff\n", r"is not a UTF-8 text file \(line 2\)"),
    ],
)  # fmt: skip
def test_parse_errors_are_one_line_naming_the_line(
    tmp_path: Path, suffix: str, text: str, match: str
) -> None:
    if suffix == ".yaml":
        pytest.importorskip("yaml")
    path = tmp_path / f"s{suffix}"
    path.write_bytes(text.encode("latin-1" if "\xff" in text else "utf-8"))
    with pytest.raises(ConfigError, match=f"scenario: .*{match}") as raised:
        load_scenario(path)
    assert "\n" not in str(raised.value)


def test_yaml_numbers_are_read_as_yaml_1_2(tmp_path: Path) -> None:
    """PyYAML's YAML 1.1 read 010 as 8, 1:30 as 90 and 0x10 as 16, but 1e3 as a string."""
    pytest.importorskip("yaml")
    path = tmp_path / "s.yaml"
    path.write_text("num_agents: 010\ncapacity_kw: 1e3\nnoise: .5\n")
    scenario = load_scenario(path)
    assert (scenario.num_agents, scenario.capacity_kw, scenario.noise) == (10, 1000.0, 0.5)
    for text in ("seed: 1:30\n", "seed: 0x10\n", "seed: 1_000\n"):
        path.write_text(text)
        with pytest.raises(
            ConfigError, match=r"seed: expected an integer in \[0, 2\*\*63\), got '"
        ):
            load_scenario(path)


@pytest.mark.parametrize("suffix", [".toml", ".json", ".yaml"])
def test_a_byte_order_mark_is_skipped(tmp_path: Path, suffix: str) -> None:
    if suffix == ".yaml":
        pytest.importorskip("yaml")
    text = {".toml": "num_agents = 4\n", ".json": '{"num_agents": 4}', ".yaml": "num_agents: 4\n"}
    path = tmp_path / f"s{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + text[suffix].encode())
    assert load_scenario(path).num_agents == 4


# -- round trips of arbitrary valid scenarios ------------------------------------------------------
distributions = st.one_of(
    st.builds(Constant, st.floats(0.1, 50.0)),
    st.builds(Uniform, st.floats(0.1, 5.0), st.floats(5.0, 10.0)),
    st.builds(LogNormal, st.floats(0.1, 50.0), st.floats(0.0, 2.0)),
)
scenarios = st.builds(
    ScenarioConfig,
    name=st.text('abcdefgh_-"\\ é', min_size=1, max_size=12),
    num_agents=st.integers(1, 10**6),
    dt_hours=st.sampled_from([0.25, 0.5, 1.0, 1.0 / 6.0]),
    episode_days=st.integers(1, 30).map(float),
    num_blocks=st.sampled_from([1, 2, 3, 24]),
    daily_demand=distributions,
    power_ratio=distributions,
    waiting_cost=distributions,
    waiting_cost_quadratic=distributions,
    profiles=st.lists(st.sampled_from(sorted(BUILTIN_PROFILES)), min_size=1, max_size=4).map(tuple),
    profile_data=st.one_of(
        st.none(),
        st.lists(
            st.lists(st.floats(0.1, 10.0), min_size=3, max_size=3).map(tuple),
            min_size=1,
            max_size=3,
        ).map(tuple),
    ),
    profile_assignment=st.sampled_from(["random", "cycle"]),
    noise=st.floats(0.0, 1.0),
    capacity_kw=st.one_of(
        st.none(),
        st.floats(1e-3, 1e9),
        st.lists(st.floats(1e-3, 1e6), min_size=1, max_size=4).map(tuple),
    ),
    capacity_factor=st.floats(0.0, 3.0),
    seed=st.integers(0, 2**63 - 1),
    population_seed=st.integers(0, 2**63 - 1),
)


@given(scenario=scenarios)
def test_any_valid_scenario_round_trips(
    scenario: ScenarioConfig, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("rt")
    for suffix in (".toml", ".json"):
        assert load_scenario(dump_scenario(scenario, folder / f"s{suffix}")) == scenario
    assert json.loads(json.dumps(scenario.to_dict())) == scenario.to_dict()


# -- what a scenario builds ------------------------------------------------------------------------
def test_build_is_deterministic_and_prefix_stable() -> None:
    small = ScenarioConfig(num_agents=10, population_seed=3).build()
    again = ScenarioConfig(num_agents=10, population_seed=3).build()
    bigger = ScenarioConfig(num_agents=50, population_seed=3).build()
    other = ScenarioConfig(num_agents=10, population_seed=4).build()
    for name in ("mean_arrival", "max_power", "cost_linear", "cost_quadratic", "profile_id"):
        np.testing.assert_array_equal(getattr(small, name), getattr(again, name))
        np.testing.assert_array_equal(getattr(small, name), getattr(bigger, name)[:10])
    assert not np.array_equal(small.mean_arrival, other.mean_arrival)


def test_built_arrays_follow_the_definitions() -> None:
    scenario = ScenarioConfig(num_agents=20_000, dt_hours=0.5, capacity_factor=0.3)
    d = scenario.build()
    s = scenario.steps_per_day
    assert s == 48
    assert d.profiles.shape == (4, s)
    for arr in (d.mean_arrival, d.capacity, d.profile_id):
        assert not arr.flags.writeable
    np.testing.assert_allclose(d.profiles.mean(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(d.mean_arrival * s, d.daily_demand, rtol=1e-6)
    ratio = d.max_power * 24 / d.daily_demand
    assert 3 - 1e-4 <= ratio.min()
    assert ratio.max() <= 6 + 1e-4
    assert abs(ratio.mean() - 4.5) < 0.05
    # Waiting costs are per hour in the config, per step in the arrays.
    assert 0.5 * 0.5 - 1e-6 <= d.cost_linear.min()
    assert d.cost_linear.max() <= 1.5 * 0.5 + 1e-6
    np.testing.assert_allclose(d.cost_quadratic, 0.05 * 0.5, rtol=1e-6)
    # Population statistics (20k draws).
    assert abs(d.daily_demand.mean() - 10.0) < 0.15
    assert abs(np.log(d.daily_demand).std() - 0.5) < 0.02
    assert np.bincount(d.profile_id, minlength=4).min() > 4500
    # Expected demand = the direct sum over agents; capacity halfway-ish between mean and peak.
    direct = (d.mean_arrival[:, None].astype(np.float64) * d.profiles[d.profile_id]).sum(0) / 0.5
    np.testing.assert_allclose(d.expected_total_demand, direct, rtol=1e-5)
    mean, peak = direct.mean(), direct.max()
    np.testing.assert_allclose(d.capacity, mean + 0.3 * (peak - mean), rtol=1e-5)
    np.testing.assert_array_equal(d.block_of_step, np.arange(s) * 24 // s)


@pytest.mark.parametrize("num_blocks", [1, 5, 24, 96])
def test_block_of_step(num_blocks: int) -> None:
    blocks = ScenarioConfig(num_blocks=num_blocks).block_of_step()
    assert blocks.dtype == np.int64
    assert blocks.shape == (96,)
    assert (np.diff(blocks) >= 0).all()
    assert blocks[0] == 0
    assert blocks[-1] == num_blocks - 1
    assert len(np.unique(blocks)) == num_blocks


def test_capacity_settings() -> None:
    constant = ScenarioConfig(num_agents=4, capacity_kw=7.0).build()
    np.testing.assert_array_equal(constant.capacity, np.full(96, 7.0, np.float32))
    hourly = tuple(float(h + 1) for h in range(24))
    profile = ScenarioConfig(num_agents=4, capacity_kw=hourly).build()
    np.testing.assert_array_equal(
        profile.capacity, np.repeat(np.arange(1, 25), 4).astype(np.float32)
    )


def test_profile_assignment_cycle() -> None:
    d = ScenarioConfig(num_agents=10, profile_assignment="cycle").build()
    np.testing.assert_array_equal(d.profile_id, np.arange(10) % 4)


@given(steps_per_day=st.integers(1, 400), name=st.sampled_from(sorted(BUILTIN_PROFILES)))
def test_builtin_profiles_have_mean_one(steps_per_day: int, name: str) -> None:
    phi = builtin_profile(name, steps_per_day)
    assert phi.shape == (steps_per_day,)
    assert (phi > 0).all()
    np.testing.assert_allclose(phi.mean(), 1.0)


def test_builtin_profiles_peak_in_the_evening() -> None:
    for name in ("residential", "early", "late", "evening"):
        hour = np.argmax(builtin_profile(name, 96)) / 4
        assert 17 <= hour <= 22, name


# -- measured profiles -----------------------------------------------------------------------------
def test_csv_formats(tmp_path: Path) -> None:
    hourly = np.arange(1.0, 25.0)
    path = tmp_path / "p.csv"
    rows = "\n".join(f"{h:02d}:00,{v},{2 * v}" for h, v in enumerate(hourly))
    path.write_text(f"# a comment\ntime,a,b\n{rows}\n")
    profiles = read_profile_csv(path, 96)
    expected = np.repeat(hourly / hourly.mean(), 4)
    np.testing.assert_allclose(profiles, np.stack([expected, expected]))
    # Finer data than the steps is averaged; data of no simple ratio is interpolated, mean 1.
    fine = tmp_path / "fine.csv"
    fine.write_text("\n".join(str(v) for v in np.repeat(hourly, 2)) + "\n")
    np.testing.assert_allclose(read_profile_csv(fine, 24)[0], hourly / hourly.mean())
    odd = read_profile_csv(fine, 10)
    assert odd.shape == (1, 10)
    np.testing.assert_allclose(odd.mean(), 1.0)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("1,2\n3\n", "line 2 has 1 values, expected 2"),
        ("1,2\n3,x\n", "line 2, column 2: .x. is not a number"),
        ("1,-2\n3,4\n", "must be >= 0"),
        ("1,0\n3,0\n", "profile 1 is all zeros"),
        ("# only a comment\n", "no data rows"),
    ],
)
def test_bad_csv(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "p.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"profile_csv: .*{match}"):
        read_profile_csv(path, 96)


HOURLY = np.arange(1.0, 25.0)  # one profile of 24 hourly values


def hourly_rows(label: Callable[[int], str] = lambda h: "", sep: str = ",") -> str:
    """24 rows of :data:`HOURLY`, each after ``label(hour)`` (and ``sep``) when there is one."""
    return "\n".join(
        (f"{label(h)}{sep}" if label(h) else "") + f"{v}" for h, v in enumerate(HOURLY)
    )


@pytest.mark.parametrize(
    "text",
    [
        # A byte-order mark made the first value (or the "step" header) not a number: the first
        # row became a header, the step column a profile (5.7% off at the worst hour here).
        "\ufeff" + hourly_rows(),
        "\ufeffstep,a\n" + hourly_rows(str),
        "\ufeff" + hourly_rows(lambda h: f"{h:02d}:00"),
        # Time labels without a header: the first row was taken for one.
        hourly_rows(lambda h: f"{h:02d}:00"),
        hourly_rows(lambda h: f"{h + 1:02d}:00"),  # labelled by the end of each interval: 01:00 .. 24:00
        hourly_rows(lambda h: f"{(h + 1) % 24:02d}:00:00"),  # .. 00:00
        hourly_rows(lambda h: f"2024-01-01T{h:02d}:00:00Z"),
        "time,load\n" + hourly_rows(lambda h: f"{h:02d}:00-{h + 1:02d}:00"),
        "Hour,load\n" + hourly_rows(lambda h: str(h + 1)),  # an index named in the header
        ",load\n" + hourly_rows(str),  # pandas' index
        "load\n" + hourly_rows() + "\n,\n\n",  # a spreadsheet's empty rows at the end
    ],
)  # fmt: skip
def test_csv_headers_time_labels_and_byte_order_marks(tmp_path: Path, text: str) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(text.encode())
    np.testing.assert_allclose(read_profile_csv(path, 24), [HOURLY / HOURLY.mean()])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        # An empty cell or a Unicode minus in the first column made it a "time label": the whole
        # first profile was dropped without a word.
        ("1,2\n,3\n4,5\n", r"line 2, column 1: the cell is empty"),
        ("1,2\n\u22121,3\n4,5\n", r"line 2, column 1: '\u22121' is not a number or a time of day \(a Unicode minus"),
        ("a,b\n1,2\n3,\n", r"line 3, column 2: the cell is empty"),
        ("a,b\n1,2\n3,\u22121\n", r"line 3, column 2: '\u22121' is not a number \(a Unicode minus"),
        ("1\n2\n\uff13\n", r"line 3, column 1: '\uff13' is not a number \(write ASCII digits\)"),
        ("1\n1_000\n", r"line 2, column 1: '1_000' is not a number"),
        ('1\n"2,5"\n', r"line 2, column 1: '2,5' is not a number \(the decimal separator is a point\)"),
        ("a;b\n1;2\n", r"line 2, column 1: '1;2' is not a number \(columns are separated by commas\)"),
        ("1,2\n,\n3,4\n", r"line 2 has only empty cells"),
        ("a,b,c\n1,2\n", r"line 1 \(the header\) has 3 names, but line 2 has 2 values"),
        ("a\n1\nnan\n", r"line 3, column 1: values must be finite"),
        ("t,a\n0,1\n1,-2\n", r"line 3, column 2: values must be >= 0, got -2"),
        (hourly_rows(lambda h: f"{(h + 6) % 24:02d}:00"), r"line 1: the day starts at 06:00, but the rows must start at midnight"),
        (hourly_rows(lambda h: f"{h % 12 * 2:02d}:00"), r"line 2: time '02:00' where 01:00 belongs"),  # two days
        (hourly_rows(lambda h: "x" if h == 3 else f"{h:02d}:00"), r"line 4: the first column holds times of day, but here 'x'"),
        (hourly_rows(lambda h: "25:00" if h == 3 else f"{h:02d}:00"), r"line 4: '25:00' is not a time of day"),
        ('a\n"1\n', r"line 2: unexpected end of data"),
    ],
)  # fmt: skip
def test_bad_csv_cells_name_the_line_and_column(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "p.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"profile_csv: '.*p.csv' {match}") as raised:
        read_profile_csv(path, 24)
    assert "\n" not in str(raised.value)


def test_profile_csvs_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.csv"
    path.write_text("1\n" * 86_401)
    with pytest.raises(ConfigError, match="86401 rows, more than 86400"):
        read_profile_csv(path, 24)
    monkeypatch.setattr(profiles, "MAX_PROFILE_CSV_BYTES", 1000)
    with pytest.raises(ConfigError, match="more than the 1,000 such a file may hold"):
        read_profile_csv(path, 24)


def test_profile_csv_and_inline_data_agree(tmp_path: Path) -> None:
    data = np.array([[1.0, 2.0, 3.0, 4.0], [4.0, 1.0, 1.0, 1.0]])
    path = tmp_path / "p.csv"
    path.write_text("\n".join(",".join(map(str, row)) for row in data.T) + "\n")
    from_csv = ScenarioConfig(num_agents=6, profile_csv=str(path)).build()
    inline = ScenarioConfig(num_agents=6, profile_data=data).build()  # type: ignore[arg-type]
    np.testing.assert_array_equal(from_csv.profiles, inline.profiles)
    np.testing.assert_array_equal(from_csv.expected_total_demand, inline.expected_total_demand)
    with pytest.raises(ConfigError, match=r"profile_csv: .* not both"):
        ScenarioConfig(profile_csv=str(path), profile_data=data)  # type: ignore[arg-type]


def test_relative_csv_is_resolved_against_the_scenario_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "p.csv").write_text("1\n2\n")
    (tmp_path / "sub" / "s.toml").write_text('num_agents = 3\nprofile_csv = "p.csv"\n')
    scenario = load_scenario(tmp_path / "sub" / "s.toml")
    assert scenario.profile_csv == str(tmp_path / "sub" / "p.csv")
    assert scenario.uses_measured_profiles


def test_a_dumped_profile_csv_loads_back_from_any_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dump_scenario wrote a relative profile_csv as given (relative to the working folder), and
    loading resolves it against the file's folder: the run folder's scenario.toml named a CSV that
    was not there."""
    (tmp_path / "project" / "data").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "project" / "data" / "p.csv").write_text("1\n2\n3\n4\n")
    monkeypatch.chdir(tmp_path / "project")
    scenario = ScenarioConfig(num_agents=3, profile_csv="data/p.csv")
    assert scenario.profile_csv == str(tmp_path / "project" / "data" / "p.csv")
    beside = dump_scenario(scenario, "s.toml")  # the CSV lies below: written relative
    away = dump_scenario(scenario, Path("..") / "runs" / "r1" / "s.json")  # elsewhere: absolute
    assert 'profile_csv = "data/p.csv"' in beside.read_text()
    assert json.loads(away.read_text())["profile_csv"] == scenario.profile_csv
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert load_scenario(tmp_path / "project" / "s.toml") == scenario
    assert load_scenario(Path("..") / "runs" / "r1" / "s.json") == scenario
    # The folder moves with its CSV.
    (tmp_path / "project").rename(tmp_path / "moved")
    moved = load_scenario(tmp_path / "moved" / "s.toml")
    assert moved.profile_csv == str(tmp_path / "moved" / "data" / "p.csv")


def test_a_population_beyond_the_machines_memory_is_refused_before_building(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from samarl.errors import InvalidValueError, MemoryLimitError

    # 96 GB for a billion agents: more than any machine this runs on has available.
    with pytest.raises(MemoryLimitError, match=r"^num_agents: 1,000,000,000 agents need ~96 GB"):
        ScenarioConfig(num_agents=10**9).build()
    monkeypatch.setenv("SAMARL_MEMORY_LIMIT", "1M")
    with pytest.raises(MemoryLimitError, match=r"^num_agents: 100,000 agents need ~9\.6 MB \("):
        ScenarioConfig(num_agents=100_000).build()
    assert isinstance(MemoryLimitError("x"), InvalidValueError)
    assert ScenarioConfig(num_agents=1000).build().num_agents == 1000


def test_built_arrays_name_their_scenario() -> None:
    sc = ScenarioConfig.preset("small")
    data = sc.build()
    assert data.built_for == sc
    data.check_for(sc.replace(seed=3, episode_days=1.0, noise=0.0, name="x"))
    with pytest.raises(ConfigError, match=r"data: built for a scenario with capacity_factor = 0.5"):
        data.check_for(sc.replace(capacity_factor=0.7))
