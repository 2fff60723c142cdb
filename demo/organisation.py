"""The demo city's organisation and catalogue, as a catalogue document applied like any city's
file: Vietnam's working hours and public holidays, the categories of migration 0001 (same
codes) with custom attributes, a People's Committee per ward (in each boundary generation), an
urban-order team per district, city departments, utilities and the police, and routing rules
across planning, construction order, environment, traffic and land.
"""

from collections.abc import Sequence
from datetime import date
from typing import Any

from demo.city import DemoGeneration

CITY_TIME_ZONE = "Asia/Ho_Chi_Minh"
# Offices work 08:00–12:00 and 13:00–17:00, Monday to Friday (Decree 45/2013 sets the
# 40-hour week; the hours are the usual ones of Hanoi's offices).
WORKING_HOURS = {"mon-fri": ["08:00-12:00", "13:00-17:00"]}
# Public holidays (Labour Code 2019, art. 112, with the 2025 amendment adding 1 September to
# National Day), with the days off the government announced around them.
HOLIDAYS = [
    (date(2025, 1, 1), "Tết Dương lịch"),
    *((date(2025, 1, d), "Tết Nguyên đán") for d in range(25, 32)),
    *((date(2025, 2, d), "Tết Nguyên đán") for d in (1, 2)),
    (date(2025, 4, 7), "Giỗ Tổ Hùng Vương"),
    (date(2025, 4, 30), "Ngày Giải phóng miền Nam"),
    (date(2025, 5, 1), "Quốc tế Lao động"),
    (date(2025, 5, 2), "Nghỉ bù"),
    (date(2025, 9, 1), "Quốc khánh"),
    (date(2025, 9, 2), "Quốc khánh"),
    (date(2026, 1, 1), "Tết Dương lịch"),
    *((date(2026, 2, d), "Tết Nguyên đán") for d in range(14, 23)),
    (date(2026, 4, 27), "Giỗ Tổ Hùng Vương (nghỉ bù)"),
    (date(2026, 4, 30), "Ngày Giải phóng miền Nam"),
    (date(2026, 5, 1), "Quốc tế Lao động"),
    (date(2026, 9, 1), "Quốc khánh"),
    (date(2026, 9, 2), "Quốc khánh"),
    (date(2027, 1, 1), "Tết Dương lịch"),
    *((date(2027, 2, d), "Tết Nguyên đán") for d in range(5, 11)),
    (date(2027, 4, 16), "Giỗ Tổ Hùng Vương"),
    (date(2027, 4, 30), "Ngày Giải phóng miền Nam"),
    (date(2027, 5, 3), "Quốc tế Lao động (nghỉ bù)"),
    (date(2027, 9, 2), "Quốc khánh"),
    (date(2027, 9, 3), "Quốc khánh"),
]

GROUPS = [
    ("planning", "Quy hoạch", "Planning"),
    ("construction_order", "Trật tự xây dựng", "Construction order"),
    ("environment", "Môi trường", "Environment"),
    ("traffic", "Giao thông", "Traffic"),
    ("land", "Đất đai", "Land"),
    ("public_services", "Dịch vụ công cộng", "Public services"),
    ("public_order", "Trật tự, an ninh", "Public order"),
    ("other", "Khác", "Other"),
]

# code, group, name_vi, name_en, SLA in working hours, sensitive
CATEGORIES = [
    ("planning.violation", "planning", "Vi phạm quy hoạch", "Planning violation", 120, False),
    ("construction.illegal", "construction_order", "Xây dựng không phép, sai phép",
     "Illegal construction", 72, False),
    ("construction.disturbance", "construction_order", "Thi công gây ảnh hưởng",
     "Construction disturbance", 48, False),
    ("environment.waste", "environment", "Rác thải, vệ sinh môi trường",
     "Waste and sanitation", 24, False),
    ("environment.pollution", "environment", "Ô nhiễm khói, bụi, tiếng ồn",
     "Pollution (smoke, dust, noise)", 48, False),
    ("environment.flooding", "environment", "Ngập úng, thoát nước", "Flooding and drainage",
     24, False),
    ("traffic.road_damage", "traffic", "Hư hỏng đường, hè phố", "Damaged road or pavement",
     72, False),
    ("traffic.signals", "traffic", "Đèn tín hiệu, biển báo giao thông",
     "Traffic lights and signs", 24, False),
    ("traffic.encroachment", "traffic", "Lấn chiếm lòng đường, vỉa hè",
     "Road and pavement encroachment", 48, False),
    ("land.dispute", "land", "Tranh chấp, lấn chiếm đất đai", "Land dispute or encroachment",
     240, True),
    ("public.lighting", "public_services", "Chiếu sáng công cộng", "Street lighting", 48,
     False),
    ("public.water", "public_services", "Cấp nước sinh hoạt", "Water supply", 24, False),
    ("public.trees", "public_services", "Cây xanh, công viên", "Trees and parks", 72, False),
    ("public.order", "public_order", "Trật tự đô thị, an ninh", "Public order and security",
     24, True),
    ("other", "other", "Khác", "Other", 120, False),
]

ATTRIBUTES: dict[str, list[dict[str, Any]]] = {
    "construction.illegal": [
        {"code": "floors", "datatype": "number", "description": "Số tầng đang xây"},
        {"code": "permit_sign", "datatype": "singlevaluelist", "required": True,
         "description": "Có biển báo cấp phép xây dựng không?",
         "values": [{"key": "yes", "name": "Có"}, {"key": "no", "name": "Không"},
                    {"key": "unknown", "name": "Không rõ"}]},
    ],
    "environment.pollution": [
        {"code": "sources", "datatype": "multivaluelist", "required": True,
         "description": "Loại ô nhiễm",
         "values": [{"key": "smoke", "name": "Khói"}, {"key": "dust", "name": "Bụi"},
                    {"key": "noise", "name": "Tiếng ồn"}, {"key": "smell", "name": "Mùi"}]},
        {"code": "observed_at", "datatype": "datetime", "description": "Thời điểm phát hiện"},
    ],
    "land.dispute": [
        {"code": "parcel", "datatype": "string", "description": "Số thửa, tờ bản đồ"},
        {"code": "neighbour", "datatype": "text", "private": True,
         "description": "Thông tin bên liên quan (chỉ cán bộ xử lý được xem)"},
    ],
}

# code, kind, name_vi, name_en, phone
CITY_AGENCIES = [
    ("so-qhkt", "city_department", "Sở Quy hoạch - Kiến trúc",
     "Department of Planning and Architecture", "024 3825 6543"),
    ("so-xd", "city_department", "Sở Xây dựng", "Department of Construction", "024 3825 3782"),
    ("so-nnmt", "city_department", "Sở Nông nghiệp và Môi trường",
     "Department of Agriculture and Environment", "024 3773 2354"),
    ("so-gtvt", "city_department", "Sở Giao thông vận tải", "Department of Transport",
     "024 3825 2567"),
    ("so-yt", "city_department", "Sở Y tế", "Department of Health", "024 3998 5765"),
    ("so-gddt", "city_department", "Sở Giáo dục và Đào tạo", "Department of Education",
     "024 3825 2864"),
    ("cty-nuoc", "public_utility", "Công ty Nước sạch", "Water Supply Company",
     "024 3943 5522"),
    ("cty-thoat-nuoc", "public_utility", "Công ty Thoát nước", "Drainage Company",
     "024 3773 3569"),
    ("cty-chieu-sang", "public_utility", "Công ty Chiếu sáng và Thiết bị đô thị",
     "Urban Lighting Company", "024 3943 7201"),
    ("ca-tp", "police", "Công an thành phố", "City Police", "113"),
]

# code, category or group (key, value), agency: rules over the whole city
CITY_RULES = [
    ("planning-city", ("group", "planning"), "so-qhkt"),
    ("construction-city", ("group", "construction_order"), "so-xd"),
    ("pollution-city", ("category", "environment.pollution"), "so-nnmt"),
    ("flooding-city", ("category", "environment.flooding"), "cty-thoat-nuoc"),
    ("traffic-city", ("group", "traffic"), "so-gtvt"),
    ("water-city", ("category", "public.water"), "cty-nuoc"),
    ("lighting-city", ("category", "public.lighting"), "cty-chieu-sang"),
    ("order-city", ("group", "public_order"), "ca-tp"),
]


def demo_catalogue(generations: Sequence[DemoGeneration]) -> dict[str, Any]:
    """The demo city's catalogue document (the same structure as a YAML file)."""
    return {
        "calendar": {"time_zone": CITY_TIME_ZONE, "working_hours": WORKING_HOURS,
                     "holidays": [{"date": d, "name": n} for d, n in HOLIDAYS]},
        "groups": [{"code": c, "name_vi": vi, "name_en": en} for c, vi, en in GROUPS],
        "categories": [
            {"code": code, "group": group, "name_vi": vi, "name_en": en, "sla_hours": sla,
             "sensitive": sensitive, "attributes": ATTRIBUTES.get(code, [])}
            for code, group, vi, en, sla, sensitive in CATEGORIES],
        "agencies": _local_agencies(generations) + [
            {"code": code, "kind": kind, "name_vi": vi, "name_en": en, "phone": phone,
             "serves": [{"generation": g.name, "level": "city",
                         "codes": [a.code for a in g.areas if a.level == "city"]}
                        for g in generations]}
            for code, kind, vi, en, phone in CITY_AGENCIES],
        "rules": _rules(generations),
    }


def ward_committee(ward_code: str) -> str:
    return f"ubnd-{ward_code.lower()}"


def district_team(district_code: str) -> str:
    return f"dtttdt-{district_code.lower()}"


def _local_agencies(generations: Sequence[DemoGeneration]) -> list[dict[str, Any]]:
    """A People's Committee per ward of every generation; an urban-order team per district,
    serving it in every generation that has it."""
    wards = [{"code": ward_committee(a.code), "kind": "ward_committee",
              # a.name carries its kind ("Phường Hòa Bình", "Xã An Lạc"): "UBND phường Hòa Bình".
              "name_vi": f"UBND {a.name[0].lower()}{a.name[1:]}",
              "name_en": f"{a.name_en} People's Committee",
              "serves": [{"generation": g.name, "level": "ward", "codes": [a.code]}]}
             for g in generations for a in g.areas if a.level == "ward"]
    districts: dict[str, dict[str, Any]] = {}
    for g in generations:
        for a in g.areas:
            if a.level != "district":
                continue
            team = districts.setdefault(a.code, {
                "code": district_team(a.code), "kind": "district_team",
                "name_vi": f"Đội Trật tự đô thị {a.name}",
                "name_en": f"{a.name_en} Urban Order Team", "serves": []})
            team["serves"].append({"generation": g.name, "level": "district",
                                   "codes": [a.code]})
    return wards + list(districts.values())


def _rules(generations: Sequence[DemoGeneration]) -> list[dict[str, Any]]:
    """City-wide rules to the departments, and per district illegal construction and
    pavement encroachment to the district's urban-order team (more specific: it wins)."""
    city = next(a.code for a in generations[-1].areas if a.level == "city")
    rules = [{"code": code, key: value, "area": {"level": "city", "code": city},
              "agency": agency} for code, (key, value), agency in CITY_RULES]
    districts = sorted({a.code for g in generations for a in g.areas if a.level == "district"})
    for district in districts:
        for category in ("construction.illegal", "traffic.encroachment"):
            rules.append({"code": f"{category.split('.')[1]}-{district.lower()}",
                          "category": category,
                          "area": {"level": "district", "code": district},
                          "agency": district_team(district)})
    return rules
