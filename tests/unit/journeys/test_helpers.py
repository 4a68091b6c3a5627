"""The shared helpers: strict config dicts and atomic writes (one of each, used everywhere)."""

import pytest

from journeylab.journeys.errors import ConfigError
from journeylab.journeys.files import atomic_write_files, atomic_write_folder, atomic_write_text
from journeylab.privacy.budget import PrivacyBudget


def test_privacy_budget_from_dict_refuses_unknown_keys():
    assert PrivacyBudget.from_dict({"epsilon": 2.0}).epsilon == 2.0
    with pytest.raises(ConfigError, match=r"privacy budget: unknown key\(s\) \['epsilom'\].*"):
        PrivacyBudget.from_dict({"epsilon": 2.0, "epsilom": 3.0})
    with pytest.raises(ConfigError, match=r"valid keys are \['accountant', 'delta', 'epsilon'"):
        PrivacyBudget.from_dict({"epsilon": 2.0, "epsilom": 3.0})


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    f = atomic_write_text(tmp_path / "a.json", "old")

    def fail(tmp):
        open(tmp, "w").write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write_files(tmp_path, {"a.json": lambda p: open(p, "w").write("new"), "b": fail})
    assert f.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_atomic_write_folder_swaps_whole_folders(tmp_path):
    target = tmp_path / "model"
    atomic_write_folder(target, lambda d: (d / "x").write_text("1"))

    def fail(d):
        (d / "y").write_text("2")
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        atomic_write_folder(target, fail)
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    assert [p.name for p in target.iterdir()] == ["x"]
    atomic_write_folder(target, lambda d: (d / "y").write_text("2"))
    assert [p.name for p in target.iterdir()] == ["y"] and len(list(tmp_path.iterdir())) == 1
