"""Run settings from a TOML file: documented defaults, parts applied, unknown keys refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from dancu.settings import RunSettings, SettingsError, load_settings

pytestmark = pytest.mark.unit

DEFAULTS = Path(__file__).resolve().parents[2] / "dancu" / "defaults.toml"


def _scalars(settings: RunSettings) -> tuple[object, ...]:
    """What a settings file can set (comparisons and rules are code, compared by name)."""
    m = settings.match
    return (
        settings.read_limits,
        m.blocking,
        m.training,
        m.thresholds,
        m.limits,
        m.seed,
        [c.name for c in m.comparisons],
        [r.name for r in m.rules],
        settings.retention,
        settings.force,
    )


def test_the_documented_defaults_are_the_defaults() -> None:
    assert _scalars(load_settings(DEFAULTS, demo=True)) == _scalars(RunSettings())
    assert _scalars(load_settings(None, demo=True)) == _scalars(RunSettings())


def test_a_file_sets_each_part(tmp_path: Path) -> None:
    key = tmp_path / "pin.key"
    key.write_text("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=\n")
    key.chmod(0o600)
    path = tmp_path / "run.toml"
    path.write_text(
        """
        [retention]
        keep_staging = true
        [pin]
        key_file = "pin.key"
        [ingest]
        block_bytes = 4096
        [matching]
        seed = 7
        [matching.thresholds]
        link = 0.99
        [matching.training]
        prior = 0.001
        [matching.limits]
        pair_slice = 1000
        """
    )
    settings = load_settings(path, force=True, demo=True)
    assert settings.read_limits.block_bytes == 4096
    assert settings.match.seed == 7
    assert settings.match.thresholds.link == 0.99
    assert settings.match.thresholds.review == RunSettings().match.thresholds.review
    assert settings.match.training.prior == 0.001
    assert settings.match.limits.pair_slice == 1000
    assert settings.require_keys().pin == b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"
    assert settings.key_files == {"pin": key}
    assert settings.retention.keep_staging
    assert settings.force
    assert RunSettings().keys is None  # no silent default key


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[matching]\nlink_threshold = 0.9\n", "unknown setting 'matching.link_threshold'"),
        ("[matching.thresholds]\nlink = 'high'\n", "must be float"),
        ("[ingest]\nblock_bytes = 1.5\n", "must be int"),
        ("[network]\nhost = 'x'\n", "unknown settings table"),
        ("[matching.blockin]\nmax_block_size = 3\n", "unknown settings table"),
        ("[pin]\nkey = 'inline secrets are refused'\n", "unknown setting 'pin.key'"),
    ],
)
def test_a_wrong_file_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "run.toml"
    path.write_text(text)
    with pytest.raises(SettingsError, match=message):
        load_settings(path, demo=True)


def test_thresholds_out_of_order_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text("[matching.thresholds]\nreview = 0.999\nlink = 0.5\n")
    with pytest.raises(ValueError, match="review <= link"):
        load_settings(path, demo=True)
