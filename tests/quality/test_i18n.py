"""Every message the pages show has its Vietnamese; dates, numbers, sex and provinces format."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from quality.explain import explain_pair
from quality.i18n import environment, format_birth, format_date, translations

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
_METHODS = [("**.py", "python"), ("**/templates/**.j2", "jinja2")]
_CATALOGS = {
    REPO / "quality": REPO / "quality/locale/vi/LC_MESSAGES/report.po",
    REPO / "dancu/workspace": REPO / "dancu/workspace/locale/vi/LC_MESSAGES/workspace.po",
}


@pytest.mark.parametrize("source", sorted(_CATALOGS), ids=lambda p: p.name)
def test_every_message_of_the_pages_is_translated(source: Path) -> None:
    with _CATALOGS[source].open("rb") as po:
        catalog = read_po(po)
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    used = {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(source), _METHODS, keywords={"_": None, "N_": None}
        )
    }
    assert used, "no message was extracted"
    assert sorted(used - translated) == []


def test_vietnamese_is_the_default_and_english_the_message_ids() -> None:
    assert translations("vi").gettext("Female") == "Nữ"
    assert translations("en").gettext("Female") == "Female"
    env = environment("vi")
    page = env.from_string(
        "{{ 'F' | sex }} {{ 'M' | sex }} {{ '079' | province }} {{ n | number(2) }}"
    )
    assert page.render(n=1234.5) == "Nữ Nam Hồ Chí Minh 1.234,50"
    assert environment("en").from_string("{{ n | number(2) }}").render(n=1234.5) == "1,234.50"


def test_templates_escape_what_they_show() -> None:
    page = environment("vi").from_string("<p>{{ name }}</p>").render(name="<script>x</script>")
    assert page == "<p>&lt;script&gt;x&lt;/script&gt;</p>"


def test_dates_are_day_month_year() -> None:
    assert format_date(dt.date(1985, 3, 4)) == "04/03/1985"
    assert format_birth(None, 1985, 3, None) == "03/1985"
    assert format_birth(None, 1985, None, None) == "1985"
    assert format_birth(None, None, None, None) == ""


def test_an_explanation_becomes_rows_that_add_up_to_the_weight() -> None:
    model = (
        '{"prior_weight": -10.0, "comparisons": ['
        '{"name": "given_name", "labels": ["else", "folded", "exact"],'
        ' "m": [0.1, 0.2, 0.7], "u": [0.9, 0.08, 0.02], "weights": [-3.2, 1.3, 5.1]},'
        '{"name": "middle_name", "labels": ["else", "one_side_missing", "folded"],'
        ' "m": [0.1, 0.1, 0.8], "u": [0.8, 0.1, 0.1], "weights": [-3, 0, 3]},'
        '{"name": "id_number", "labels": ["else", "exact"],'
        ' "m": [0.1, 0.9], "u": [0.99, 0.01], "weights": [-3.3, 6.5]}]}'
    )
    explanation = (
        '{"id_number": {"level": -1, "weight": 0.0}, "given_name": {"level": 1, "weight": 1.3},'
        ' "middle_name": {"level": 0, "weight": -3.0}}'
    )
    rows = explain_pair(explanation, model)
    assert [r.name for r in rows] == ["given_name", "middle_name", "id_number"]
    assert [r.agreement for r in rows] == ["agree", "differ", "missing"]
    assert rows[0].label == "folded" and rows[0].m == 0.2 and rows[0].u == 0.08
    assert rows[2].label == "missing" and rows[2].m is None
    assert rows[0].start == -10.0 and rows[-1].end == pytest.approx(-10.0 + 1.3 - 3.0)
