"""Pages in Vietnamese (the default) or English: Jinja2 templates and gettext catalogs.

The English text is the message id; ``quality/locale/vi/LC_MESSAGES/dancu.po``
holds its Vietnamese. Catalogs are read from their ``.po`` source with Babel
and compiled in memory, so there is no build step and no binary file in the
repository. ``environment`` gives a Jinja2 environment with autoescaping, the
``i18n`` extension bound to the language, and the filters every page uses:
dates as dd/mm/yyyy, numbers in the language's format, sex as Nam / Nữ,
provinces by name. Other packages (the review workspace) add their own
catalogs and template folders.
"""

from __future__ import annotations

import copy
import datetime as dt
import gettext
import io
from collections.abc import Callable, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from domain.reference import provinces

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
_CATALOG = Path(str(resources.files("quality").joinpath("locale")))
_TEMPLATES = Path(str(resources.files("quality").joinpath("templates")))


def N_(message: str) -> str:
    """Mark ``message`` for the catalog; it is translated where it is shown."""
    return message


def language(value: str | None) -> str:
    """``value`` when it is a supported language, else the default (Vietnamese)."""
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


@cache
def _catalog(po_file: Path) -> gettext.GNUTranslations:
    with po_file.open("rb") as source:
        catalog = read_po(source)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def translations(lang: str, catalogs: Sequence[Path] = ()) -> gettext.NullTranslations:
    """The messages of ``lang`` from ``catalogs`` then this package's catalog.

    Args:
        lang: ``vi`` or ``en`` (English is the message ids themselves).
        catalogs: Further ``locale`` folders (``<lang>/LC_MESSAGES/*.po``), searched first.
    """
    found: gettext.NullTranslations = gettext.NullTranslations()
    if lang == "en":
        return found
    chain = [
        po
        for folder in (*catalogs, _CATALOG)
        for po in sorted((folder / lang / "LC_MESSAGES").glob("*.po"))
    ]
    if not chain:
        return found
    translation = copy.copy(_catalog(chain[0]))  # keeps the catalog's plural rule
    translation._catalog = dict(translation._catalog)  # type: ignore[attr-defined]
    for po in chain[1:]:
        for key, text in _catalog(po)._catalog.items():  # type: ignore[attr-defined]
            translation._catalog.setdefault(key, text)  # type: ignore[attr-defined]
    return translation


def format_date(value: Any) -> str:
    """dd/mm/yyyy for a date or datetime; '' for None."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def format_birth(date: Any, year: Any, month: Any, day: Any) -> str:
    """A birth date as far as it is known: dd/mm/yyyy, mm/yyyy or yyyy; '' if unknown."""
    if date is not None:
        return format_date(date)
    if year is None:
        return ""
    if month is None:
        return f"{int(year):04d}"
    if day is None:
        return f"{int(month):02d}/{int(year):04d}"
    return f"{int(day):02d}/{int(month):02d}/{int(year):04d}"


def province_name(code: Any) -> str:
    """The province's name for its code ('' for None; the code itself if unknown)."""
    if code is None:
        return ""
    found = provinces().get(str(code))
    return found.name if found is not None else str(code)


_SEX = {"M": N_("Male"), "F": N_("Female")}


def environment(
    lang: str,
    *,
    templates: Sequence[Path] = (),
    catalogs: Sequence[Path] = (),
) -> jinja2.Environment:
    """A Jinja2 environment for ``lang``: autoescaped, translated, with the page filters.

    Args:
        lang: ``vi`` or ``en``.
        templates: Further template folders, searched before this package's.
        catalogs: Further ``locale`` folders, searched before this package's.
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([*templates, _TEMPLATES]),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    messages = translations(lang, catalogs)
    env.install_gettext_translations(messages, newstyle=True)  # type: ignore[attr-defined]
    gettext_: Callable[[str], str] = messages.gettext

    def number(value: Any, digits: int = 0) -> str:
        if value is None:
            return ""
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=pattern, locale=lang)

    env.filters.update(
        date=format_date,
        number=number,
        province=province_name,
        sex=lambda code: gettext_(_SEX[code]) if code in _SEX else "",
    )
    env.globals.update(lang=lang, birth=format_birth, languages=LANGUAGES)
    return env
