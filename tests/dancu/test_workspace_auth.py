"""The review workspace's users file and session key: scrypt hashes, private files, no defaults."""

from __future__ import annotations

import stat
from pathlib import Path

import polars as pl
import pytest

from dancu.workspace.app import Filters, read_secret
from dancu.workspace.users import UserError, Users

pytestmark = pytest.mark.unit


def test_passwords_are_scrypt_hashes_in_a_private_file(tmp_path: Path) -> None:
    users = Users(tmp_path / "users")
    users.set_password("lan", "một mật khẩu dài")
    text = (tmp_path / "users").read_text()
    assert text.startswith("lan:scrypt:32768:8:1:") and "một mật khẩu dài" not in text
    assert stat.S_IMODE((tmp_path / "users").stat().st_mode) == 0o600
    assert users.check("lan", "một mật khẩu dài")
    assert not users.check("lan", "một mật khẩu khác")
    assert not users.check("minh", "một mật khẩu dài")
    users.set_password("minh", "mật khẩu của minh")
    assert users.names() == ["lan", "minh"] and users.check("lan", "một mật khẩu dài")
    with pytest.raises(UserError):
        users.set_password("lan", "ngắn")
    with pytest.raises(UserError):
        users.set_password("lan:admin", "một mật khẩu dài")


def test_the_session_key_is_created_private_and_refused_when_others_can_read_it(
    tmp_path: Path,
) -> None:
    key = tmp_path / "session.key"
    first = read_secret(key)
    assert len(first) >= 32 and read_secret(key) == first
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    key.chmod(0o644)
    with pytest.raises(ValueError, match="owner only"):
        read_secret(key)


def test_the_queue_search_ignores_diacritics_and_filters_combine() -> None:
    queue = pl.DataFrame(
        {
            "record_key_l": ["001:1", "079:5"],
            "record_key_r": ["001:2", "079:9"],
            "full_name_l": ["Nguyễn Văn Đức", "Trần Thị Bình"],
            "full_name_r": ["Nguyen Van Duc", "Tran Binh"],
            "province_code_l": ["001", "079"],
            "province_code_r": ["001", "079"],
            "match_weight": [5.0, 1.0],
            "decided_by": ["model", "rule:sex_conflict"],
            "last_verdict": [None, "unsure"],
            "batch_id": ["b1", "b2"],
        }
    )

    def keys(**query: str) -> list[str]:
        return Filters.read(query).apply(queue)["record_key_l"].to_list()

    assert keys(q="van duc") == ["001:1"] and keys(q="Văn Đức") == ["001:1"]
    assert keys(q="BÌNH") == ["079:5"]
    assert keys(province="079") == ["079:5"] and keys(batch="b1") == ["001:1"]
    assert keys(min_weight="2") == ["001:1"] and keys(max_weight="2") == ["079:5"]
    assert keys(doubt="rule:sex_conflict") == ["079:5"]
    assert keys(verdict="unsure") == ["079:5"] and keys(verdict="undecided") == ["001:1"]
    assert keys(min_weight="nan") == ["001:1", "079:5"]
