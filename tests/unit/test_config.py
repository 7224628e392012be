"""Tests of the settings: one variable and one default per setting, the environment loader,
sections built by setting name, and the command line's defaults taken from them."""

from __future__ import annotations

import dataclasses
import re

import pytest

from sabot_lab.cli import build_parser
from sabot_lab.config import (
    ENVIRONMENT,
    ClusterConfig,
    Config,
    EngineConfig,
    NotebookConfig,
    get_config,
)

SECTIONS = {"engine": EngineConfig, "cluster": ClusterConfig, "notebook": NotebookConfig}
SETTINGS = [f.name for kind in SECTIONS.values() for f in dataclasses.fields(kind)]


def test_every_setting_has_one_variable_and_one_section() -> None:
    overridden = [variable.setting for variable in ENVIRONMENT.values()]
    assert sorted(overridden) == sorted(SETTINGS)
    assert len(set(SETTINGS)) == len(SETTINGS)  # a name finds its section
    assert all(name.startswith("SABOT_") for name in ENVIRONMENT)


def test_config_is_its_three_sections() -> None:
    assert [f.name for f in dataclasses.fields(Config)] == list(SECTIONS)


@pytest.mark.parametrize("setting", SETTINGS)
def test_every_setting_has_a_default(setting: str) -> None:
    config = Config.from_env({})
    section = next(s for s, kind in SECTIONS.items() if setting in kind.__dataclass_fields__)
    assert getattr(getattr(config, section), setting) == getattr(SECTIONS[section](), setting)


def test_the_loader_parses_each_kind_of_value() -> None:
    config = Config.from_env(
        {
            "SABOT_BATCH_SIZE": "64",
            "SABOT_THREADS": "3",
            "SABOT_MAX_IN_FLIGHT": "5",
            "SABOT_STATE_BACKEND": "rocksdb",
            "SABOT_HEARTBEAT_INTERVAL": "0.5",
            "SABOT_HEARTBEAT_TIMEOUT": "4",
            "SABOT_DRAIN_TIMEOUT": "0",
            "SABOT_SHUFFLE_MEMORY": "1048576",
            "SABOT_CHECKPOINTS_RETAINED": "7",
            "SABOT_CHECKPOINT_LOCATION": "s3://bucket/sabot",
            "SABOT_DATABASE_URL": "postgresql://u:secret@host/db",
            "SABOT_AGENT_SLOTS": "4",
            "SABOT_SHUFFLE_COMPRESSION": "zstd",
            "SABOT_PROGRESS": "OFF",
            "SABOT_PROGRESS_DELAY": "0",
        }
    )
    assert config.engine == EngineConfig(64, 3, 5, "rocksdb")
    assert config.cluster == ClusterConfig(
        0.5, 4.0, 0.0, 1 << 20, 7, "s3://bucket/sabot", "postgresql://u:secret@host/db", 4, "zstd"
    )
    assert config.notebook == NotebookConfig(progress=False, progress_delay=0.0)
    assert "secret" not in repr(config)


def test_empty_variables_count_as_unset() -> None:
    empty = Config.from_env(dict.fromkeys(ENVIRONMENT, ""))
    assert empty == Config.from_env({})
    assert empty.notebook.progress is True and empty.cluster.checkpoint_location is None


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SABOT_BATCH_SIZE", "big", "SABOT_BATCH_SIZE='big' is not an integer"),
        ("SABOT_THREADS", "0", "SABOT_THREADS='0': Config.threads must be >= 1, got 0"),
        ("SABOT_STATE_BACKEND", "disk", "SABOT_STATE_BACKEND='disk': Config.state_backend must be"),
        ("SABOT_HEARTBEAT_TIMEOUT", "soon", "SABOT_HEARTBEAT_TIMEOUT='soon' is not a number"),
        ("SABOT_HEARTBEAT_INTERVAL", "-1", "SABOT_HEARTBEAT_INTERVAL='-1': Config.heartbeat_"),
        ("SABOT_CHECKPOINTS_RETAINED", "0", "SABOT_CHECKPOINTS_RETAINED='0': Config.checkpoints"),
        ("SABOT_AGENT_SLOTS", "0", "SABOT_AGENT_SLOTS='0': Config.agent_slots must be >= 1"),
        (
            "SABOT_MAX_PARALLELISM",
            "0",
            "SABOT_MAX_PARALLELISM='0': Config.max_parallelism must be >= 1",
        ),
        ("SABOT_SHUFFLE_COMPRESSION", "gzip", "SABOT_SHUFFLE_COMPRESSION='gzip': Config.shuffle_"),
        ("SABOT_PROGRESS_DELAY", "1s", "SABOT_PROGRESS_DELAY='1s' is not a number"),
    ],
)
def test_the_loader_names_the_variable_of_a_bad_value(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(f"environment variable {message}")):
        Config.from_env({variable: value})


def test_settings_by_name_go_to_their_section() -> None:
    config = Config(batch_size=1024, heartbeat_timeout=3.0, progress=False)
    assert config.engine.batch_size == 1024
    assert config.cluster.heartbeat_timeout == 3.0
    assert config.notebook.progress is False
    assert config.replace(threads=2).engine == dataclasses.replace(config.engine, threads=2)
    with pytest.raises(TypeError, match="no setting 'heartbeat'"):
        config.replace(heartbeat=1.0)
    with pytest.raises(ValueError, match=re.escape("Config.batch_size must be >= 1")):
        Config(batch_size=0)


def test_sections_round_trip() -> None:
    config = Config.from_env({"SABOT_BATCH_SIZE": "8", "SABOT_CHECKPOINTS_RETAINED": "2"})
    rebuilt = Config(
        **{name: value for section in SECTIONS for name, value in _settings(config, section)}
    )
    assert rebuilt == config
    assert Config(config.engine, config.cluster, config.notebook) == config
    assert config.replace(cluster=ClusterConfig()).engine is config.engine


def _settings(config: Config, section: str) -> list[tuple[str, object]]:
    return list(dataclasses.asdict(getattr(config, section)).items())


def test_the_command_lines_defaults_are_the_clusters() -> None:
    cluster = get_config().cluster
    parser = build_parser()
    assert parser.parse_args(["agent"]).heartbeat_interval == cluster.heartbeat_interval
    jobmanager = parser.parse_args(["jobmanager", "--workdir", "w"])
    assert jobmanager.heartbeat_timeout == cluster.heartbeat_timeout
    assert jobmanager.db == cluster.database_url
    agent = parser.parse_args(["agent"])
    assert (agent.drain_timeout, agent.shuffle_memory) == (
        cluster.drain_timeout,
        cluster.shuffle_memory,
    )
    assert ClusterConfig().heartbeat_interval == 2.0 and ClusterConfig().heartbeat_timeout == 10.0
