"""Header dialects: how each legacy system spells the columns it writes.

Spellings follow the column table of ``legacy-exports.md``: Vietnamese with or
without diacritics, dBase-style short names, English, or the canonical names,
in one case habit per file. ``stt`` (row number) and ``note`` (Ghi chú) are
columns the contract does not name; readers keep them as extra attributes.
"""

from __future__ import annotations

import numpy as np

# field -> dialect -> spellings. Dialects: vi, vi_ascii, short (dBase-style), en, canonical.
LABELS: dict[str, dict[str, list[str]]] = {
    "stt": {"vi": ["STT"], "vi_ascii": ["STT"], "short": ["STT"], "en": ["No."]},
    "local_id": {
        "vi": ["Mã nhân khẩu", "Mã NK"],
        "vi_ascii": ["Ma nhan khau", "Ma NK"],
        "short": ["MA_NK", "MANK", "ID"],
        "en": ["ID"],
    },
    "household_id": {
        "vi": ["Số hộ khẩu", "Mã hộ"],
        "vi_ascii": ["So HK", "So ho khau"],
        "short": ["SO_HK", "SOHK", "MA_HO"],
        "en": ["Household ID"],
    },
    "relation_to_head": {
        "vi": ["Quan hệ với chủ hộ", "Quan hệ"],
        "vi_ascii": ["Quan he"],
        "short": ["QH_CHUHO"],
        "en": ["Relation"],
    },
    "full_name": {
        "vi": ["Họ và tên", "Họ tên"],
        "vi_ascii": ["Ho va ten", "Ho ten"],
        "short": ["HOTEN"],
        "en": ["Full name"],
    },
    "family_name": {"vi": ["Họ"], "vi_ascii": ["Ho"], "short": ["HO"], "en": ["Family name"]},
    "middle_name": {
        "vi": ["Tên đệm", "Chữ đệm"],
        "vi_ascii": ["Ten dem", "Chu dem"],
        "short": ["DEM"],
        "en": ["Middle name"],
    },
    "given_name": {"vi": ["Tên"], "vi_ascii": ["Ten"], "short": ["TEN"], "en": ["Given name"]},
    "other_name": {
        "vi": ["Tên gọi khác"],
        "vi_ascii": ["Ten goi khac"],
        "short": ["TEN_KHAC"],
        "en": ["Other name"],
    },
    "date_of_birth": {
        "vi": ["Ngày sinh", "Ngày tháng năm sinh"],
        "vi_ascii": ["Ngay sinh"],
        "short": ["NGAYSINH"],
        "en": ["DOB", "Date of birth"],
    },
    "birth_day": {"vi": ["Ngày"], "vi_ascii": ["Ngay"], "short": ["NGAY"], "en": ["Birth day"]},
    "birth_month": {
        "vi": ["Tháng"],
        "vi_ascii": ["Thang"],
        "short": ["THANG"],
        "en": ["Birth month"],
    },
    "birth_year": {
        "vi": ["Năm sinh"],
        "vi_ascii": ["Nam sinh"],
        "short": ["NAMSINH"],
        "en": ["Birth year"],
    },
    "sex": {
        "vi": ["Giới tính", "Phái"],
        "vi_ascii": ["Gioi tinh"],
        "short": ["GIOITINH"],
        "en": ["Sex"],
    },
    "birth_place": {
        "vi": ["Nơi sinh", "Nơi đăng ký khai sinh"],
        "vi_ascii": ["Noi sinh"],
        "short": ["NOISINH"],
        "en": ["Birth place"],
    },
    "native_place": {
        "vi": ["Quê quán"],
        "vi_ascii": ["Que quan"],
        "short": ["QUEQUAN"],
        "en": ["Native place"],
    },
    "ethnicity": {
        "vi": ["Dân tộc"],
        "vi_ascii": ["Dan toc"],
        "short": ["DANTOC"],
        "en": ["Ethnicity"],
    },
    "religion": {
        "vi": ["Tôn giáo"],
        "vi_ascii": ["Ton giao"],
        "short": ["TONGIAO"],
        "en": ["Religion"],
    },
    "nationality": {
        "vi": ["Quốc tịch"],
        "vi_ascii": ["Quoc tich"],
        "short": ["QUOCTICH"],
        "en": ["Nationality"],
    },
    "id_number": {
        "vi": ["Số CMND", "Số CMND/CCCD"],
        "vi_ascii": ["So CMND"],
        "short": ["SO_CMND", "CMND"],
        "en": ["ID number"],
    },
    "occupation": {
        "vi": ["Nghề nghiệp"],
        "vi_ascii": ["Nghe nghiep"],
        "short": ["NGHENGHIEP"],
        "en": ["Occupation"],
    },
    "address": {
        "vi": ["Địa chỉ thường trú", "Nơi thường trú"],
        "vi_ascii": ["Dia chi"],
        "short": ["DIACHI"],
        "en": ["Address"],
    },
    "house_number": {
        "vi": ["Số nhà"],
        "vi_ascii": ["So nha"],
        "short": ["SONHA"],
        "en": ["House number"],
    },
    "hamlet": {
        "vi": ["Thôn/Ấp/Tổ", "Thôn"],
        "vi_ascii": ["Thon"],
        "short": ["THON"],
        "en": ["Hamlet"],
    },
    "commune": {
        "vi": ["Xã/Phường", "Xã"],
        "vi_ascii": ["Xa phuong"],
        "short": ["XA"],
        "en": ["Commune"],
    },
    "district": {
        "vi": ["Quận/Huyện", "Huyện"],
        "vi_ascii": ["Quan huyen"],
        "short": ["HUYEN"],
        "en": ["District"],
    },
    "father_name": {
        "vi": ["Họ tên cha"],
        "vi_ascii": ["Ho ten cha"],
        "short": ["HOTENCHA"],
        "en": ["Father name"],
    },
    "mother_name": {
        "vi": ["Họ tên mẹ"],
        "vi_ascii": ["Ho ten me"],
        "short": ["HOTENME"],
        "en": ["Mother name"],
    },
    "residence_type": {
        "vi": ["Loại cư trú"],
        "vi_ascii": ["Loai cu tru"],
        "short": ["LOAI_CT"],
        "en": ["Residence type"],
    },
    "registered_on": {
        "vi": ["Ngày đăng ký"],
        "vi_ascii": ["Ngay dang ky"],
        "short": ["NGAY_DK"],
        "en": ["Registered on"],
    },
    "note": {"vi": ["Ghi chú"], "vi_ascii": ["Ghi chu"], "short": ["GHICHU"], "en": ["Notes"]},
}


def header_labels(rng: np.random.Generator, fields: list[str], dialect: str) -> list[str]:
    case = (
        ["as_is", "upper", "lower"][int(rng.choice(3, p=[0.6, 0.25, 0.15]))]
        if dialect != "short"
        else "as_is"
    )
    labels = []
    for f in fields:
        by_dialect = LABELS[f]
        label = (
            by_dialect[dialect][int(rng.integers(len(by_dialect[dialect])))]
            if dialect in by_dialect
            else f
        )
        label = {"upper": label.upper(), "lower": label.lower()}.get(case, label)
        labels.append(label)
    return labels
