from pathlib import Path

import pytest

from broadcaster.settings import SettingsError, load_settings
from tests.conftest import REPO


def test_shipped_config_has_documented_defaults() -> None:
    settings = load_settings(REPO / "config.toml", environ={})
    assert settings.timezone == "Asia/Tokyo"
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8000)
    assert settings.line.uses_sandbox
    assert settings.rate_limits.multicast == 200
    assert settings.resolved_database_url.endswith("/data/broadcaster.db")


def test_environment_overrides_nested_keys_and_lists() -> None:
    settings = load_settings(
        REPO / "config.toml",
        environ={
            "BROADCASTER_DATA_DIR": "/srv/bc",
            "BROADCASTER_SERVER_PORT": "9000",
            "BROADCASTER_LINE_CHANNEL_ACCESS_TOKEN": "secret-token",
            "BROADCASTER_RESIDENTS_ZONES": '["東1", "東2"]',
        },
    )
    assert settings.data_dir == Path("/srv/bc")
    assert settings.server.port == 9000
    assert not settings.line.uses_sandbox
    assert settings.residents.zones == ["東1", "東2"]


def test_secrets_are_masked_in_repr() -> None:
    settings = load_settings(
        REPO / "config.toml", environ={"BROADCASTER_LINE_CHANNEL_SECRET": "abcdef123"}
    )
    assert "abcdef123" not in repr(settings)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"BROADCASTER_SERVER_PORT": "eighty"},
            "setting server.port (from BROADCASTER_SERVER_PORT)",
        ),
        ({"BROADCASTER_TIMEZONE": "Mars/Olympus"}, "unknown time zone"),
        ({"BROADCASTER_QUIET_HOURS_START": "25:00"}, "setting quiet_hours.start"),
        ({"BROADCASTER_RESIDENTS_DISTRICTS": "[]"}, "setting residents.districts"),
    ],
)
def test_a_wrong_setting_is_one_line_naming_the_key(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(REPO / "config.toml", environ=environ)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_unknown_and_missing_keys_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text(
        'tmezone = "Asia/Tokyo"\n[residents]\ndistricts=["a"]\nzones=["z"]\n'
        'interests=["i"]\nlanguages=["ja"]\ncategories=["general"]\n'
    )
    with pytest.raises(SettingsError, match=r"setting tmezone \(in .*\): Extra inputs"):
        load_settings(bad, environ={})
    bad.write_text("timezone = 'Asia/Tokyo'\n")
    with pytest.raises(SettingsError, match="setting residents"):
        load_settings(bad, environ={})
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "missing.toml", environ={})
