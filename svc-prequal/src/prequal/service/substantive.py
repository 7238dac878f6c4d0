"""The substantive rules (实质性审查规则) of the 18 matters: what each matter's legal basis requires that can be
checked from the form, the materials and the date, beyond the generated required/format checks
(``prequal.service.rules.generic_rules``) — periods and dates, areas, quantities and thresholds, materials
the law requires only in some cases, commitments the law makes a condition.

Each rule cites the provision it applies (law + article, or the provision's subject where the article is
to be confirmed by the bureau's legal division), has a message in Chinese and English and a severity:
``blocking`` where the law settles it (the application is returned for correction with the message),
``warning`` where the form only suggests a problem an officer must judge (the application goes to a
reviewer, not back to the applicant). Every rule carries passing and failing examples, run as tests and
before a version is published. ``prequal.service.rulegen`` builds version 2 of every shipped rule set
from version 1 and these (``prequal/rulesets/v2/``); migration ``0014_substantive_rules`` publishes it.

Conflicts with other applications and licences are the comparison's (``prequal.service.compare``:
``compare.open_application``, ``compare.licence.*``, ``compare.business_name``), which every pre-review runs.
"""
from __future__ import annotations

import json
from typing import Any

# Laws, as cited.
GREENING_SH = "《上海市绿化条例》"
GREENING_CN = "《城市绿化条例》"
PLANT_QUARANTINE = "《植物检疫条例》"
FOREST_LAW = "《中华人民共和国森林法》"
FOREST_LAND = "《建设项目使用林地审核审批管理办法》"
CITES = "《濒危野生动植物种国际贸易公约》"
ENDANGERED_TRADE = "《中华人民共和国濒危野生动植物进出口管理条例》"
WILDLIFE_LAW = "《中华人民共和国野生动物保护法》"
WILD_PLANTS = "《中华人民共和国野生植物保护条例》"
SIGNBOARDS = "《上海市户外招牌设置管理办法》"
ADVERTISING = "《上海市户外广告设施管理办法》"
AMENITY_SH = "《上海市市容环境卫生管理条例》"
CONSTRUCTION_WASTE = "《城市建筑垃圾管理规定》"
DOMESTIC_WASTE = "《城市生活垃圾管理办法》"
KITCHEN_WASTE = "《上海市餐厨废弃油脂处理管理办法》"
HOUSEHOLD_WASTE_SH = "《上海市生活垃圾管理条例》"
CAR_WASH = "《上海市机动车清洗保洁管理暂行规定》"
SEED_LAW = "《中华人民共和国种子法》"
OLD_TREES = "《上海市古树名木和古树后续资源保护条例》"


def _guard(*keys: str) -> str:
    return " && ".join(f"has(form.{k}) && present(form.{k})" for k in keys)


def _is(key: str, *values: Any) -> str:
    options = json.dumps(list(values), ensure_ascii=False)
    return f"has(form.{key}) && form.{key} in {options}"


def rule(rule_id: str, targets: list[str], expr: str, zh: str, en: str, basis: str, *,
         when: str | None = None, severity: str = "blocking", passing: list[dict[str, Any]],
         failing: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": f"law.{rule_id}", "finding_code": f"law-{rule_id.replace('_', '-')}", "targets": targets,
            "when": when, "expr": expr, "severity": severity, "message_zh": zh, "message_en": en,
            "legal_basis": basis, "effective_from": None, "effective_to": None,
            "examples": {"pass": passing, "fail": failing}}


def _f(form: dict[str, Any], materials: dict[str, Any] | None = None, today: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"form": form, "materials": materials or {}}
    if today:
        out["today"] = today
    return out


UP = {"kind": "upload", "material_id": "m1"}


def _needs(material: str, when: str, zh: str, en: str, basis: str, rule_id: str, target_form: dict[str, Any],
           other_form: dict[str, Any], severity: str = "blocking") -> dict[str, Any]:
    """A material the law requires in some cases only (those ``when`` describes)."""
    # The case in the expression, not in ``when``: an application outside it passes (the examples show both).
    return rule(rule_id, [f"materials.{material}"], f'!({when}) || material("{material}")', zh, en, basis,
                severity=severity,
                passing=[_f(target_form, {material: UP}), _f(other_form)],
                failing=[_f(target_form)])


def _committed(key: str, zh: str, en: str, basis: str, rule_id: str) -> dict[str, Any]:
    """A commitment or a facility the law makes a condition: a yes/no field that must be yes."""
    return rule(rule_id, [f"form.{key}"], f"form.{key} == true", zh, en, basis, when=f"has(form.{key})",
                passing=[_f({key: True})], failing=[_f({key: False})])


def _max_period(days: int, zh: str, en: str, basis: str, when: str | None = None,
                extra: dict[str, Any] | None = None) -> dict[str, Any]:
    guard = "has(form.start_date) && has(form.end_date) && is_date(form.start_date) && is_date(form.end_date)"
    extra = extra or {}
    return rule("max_period", ["form.end_date"], f"days_between(form.start_date, form.end_date) <= {days}", zh, en,
                basis, when=f"{when} && {guard}" if when else guard,
                passing=[_f({**extra, "start_date": "2030-01-01", "end_date": "2030-01-20"})],
                failing=[_f({**extra, "start_date": "2030-01-01", "end_date": "2032-06-30"})])


# A destination that names another province (省级行政区) by the start of its name: only then is the shipment
# inter-provincial (省际调运). A destination the rule cannot place is left to the officer, not returned.
OTHER_PROVINCE = ("^(北京|天津|河北|山西|内蒙古|辽宁|吉林|黑龙江|江苏|浙江|安徽|福建|江西|山东|河南|湖北|湖南|广东|广西|"
                  "海南|重庆|四川|贵州|云南|西藏|陕西|甘肃|青海|宁夏|新疆|香港|澳门|台湾)")


SUBSTANTIVE: dict[str, list[dict[str, Any]]] = {
    # 对植物调运检疫的许可
    "LR-XK-001": [
        _needs("destination_requirement", f'{_guard("destination")} && form.destination.matches("{OTHER_PROVINCE}")',
               "调入地在外省市（省际调运），请上传调入地植物检疫机构出具的《植物检疫要求书》",
               "the consignment leaves Shanghai (inter-provincial shipment): please upload the destination's plant "
               "quarantine requirements issued by its quarantine authority",
               f"{PLANT_QUARANTINE}第十条", "interprovincial_requirements",
               {"destination": "江苏省苏州市吴中区"}, {"destination": "上海市崇明区"}),
        _needs("origin_quarantine_certificate", _is("product_category", "seedlings", "flowers", "seeds", "scions"),
               "种子、苗木等繁殖材料未附产地检疫合格证，需由检疫机构实施现场检疫，请补充产地检疫合格证或等待现场检疫安排",
               "propagating material (seeds, seedlings, scions) without an origin quarantine certificate needs an "
               "on-site inspection: an officer will arrange it",
               f"{PLANT_QUARANTINE}第十一条", "origin_certificate",
               {"product_category": "seedlings"}, {"product_category": "timber"}, severity="warning"),
    ],
    # 城市建筑垃圾处置核准
    "LR-XK-002": [
        rule("transport_capacity", ["form.vehicle_count", "form.waste_volume_m3"],
             "form.waste_volume_m3 <= form.vehicle_count * 100.0 * double(days_between(form.start_date, form.end_date) + 1)",
             "申报的运输车辆数与处置量、处置期限不匹配（每车每日超过100立方米，约8车次），请核对处置量、车辆数或处置期限",
             "the vehicles declared cannot carry the declared volume within the period (more than 100 m³ per vehicle "
             "per day, about 8 trips): please check the volume, the number of vehicles or the dates",
             f"{CONSTRUCTION_WASTE}第七条、第十四条",
             when=(_guard("waste_volume_m3", "vehicle_count") + " && is_number(form.waste_volume_m3) && "
                   "is_number(form.vehicle_count) && has(form.start_date) && has(form.end_date) && "
                   "is_date(form.start_date) && is_date(form.end_date) && date(form.end_date) >= date(form.start_date)"),
             passing=[_f({"waste_volume_m3": 5000.0, "vehicle_count": 5.0, "start_date": "2030-01-01",
                          "end_date": "2030-03-01"})],
             failing=[_f({"waste_volume_m3": 80000.0, "vehicle_count": 3.0, "start_date": "2030-01-01",
                          "end_date": "2030-01-31"})]),
    ],
    # 进出口国际公约限制进出口的陆生野生动物或其产品审批
    "LR-XK-003": [
        _needs("foreign_cites_permit", _is("direction", "import"),
               "进口公约附录所列物种，须提交出口国公约管理机构核发的出口许可证明",
               "importing a CITES-listed species needs the export permit of the exporting country's CITES authority",
               f"{CITES}第三条、第四条", "import_needs_export_permit", {"direction": "import"}, {"direction": "export"}),
        _needs("trade_contract", _is("purpose", "commercial"),
               "以商业贸易为目的进出口的，请上传进出口合同", "an import or export for trade needs the trade contract",
               f"{ENDANGERED_TRADE}（申请材料：进出口合同）", "trade_needs_contract",
               {"purpose": "commercial"}, {"purpose": "scientific"}),
        _needs("use_approval", _is("purpose", "breeding"),
               "以人工繁育为目的的，请上传人工繁育许可证件", "an import for captive breeding needs the breeding licence",
               f"{WILDLIFE_LAW}第二十五条", "breeding_needs_licence", {"purpose": "breeding"}, {"purpose": "exhibition"}),
    ],
    # 进出口中国参加的国际公约限制进出口野生植物审批
    "LR-XK-004": [
        _needs("foreign_cites_permit", _is("direction", "import"),
               "进口公约附录所列植物，须提交出口国公约管理机构核发的出口许可证明",
               "importing a CITES-listed plant needs the export permit of the exporting country's CITES authority",
               f"{CITES}第三条、第四条", "import_needs_export_permit", {"direction": "import"}, {"direction": "export"}),
        rule("wild_source_review", ["form.source_type"],
             '!(' + _is("direction", "export", "re_export") + ' && form.source_type == "wild")',
             "野外来源的野生植物，须由审查人员核验采集证等合法来源证明",
             "wild-collected plants: a reviewer verifies the collection permit and the proof of legal origin",
             f"{WILD_PLANTS}第十六条、第二十条", when="has(form.source_type)",
             severity="warning",
             passing=[_f({"direction": "export", "source_type": "artificially_propagated"}),
                      _f({"direction": "import", "source_type": "wild"})],
             failing=[_f({"direction": "export", "source_type": "wild"})]),
    ],
    # 对户外招牌设置的审批
    "LR-XK-005": [
        _needs("structural_safety", _is("mounting_position", "rooftop", "projecting"),
               "在建筑物屋顶设置或者悬挑、突出设置的招牌，请上传结构安全设计或安全评估意见",
               "a sign on a rooftop or projecting from the facade needs its structural safety design or assessment",
               f"{SIGNBOARDS}（设置的安全要求）", "structural_safety",
               {"mounting_position": "rooftop"}, {"mounting_position": "upper_wall"}),
        _needs("heritage_statement", _is("mounting_position", "key_area_ground_floor"),
               "重点区域的门头招牌，请上传与周边风貌协调的说明", "a shop sign in a key area needs a statement of how it "
               "fits the surrounding townscape", f"{SIGNBOARDS}第五条", "key_area_townscape",
               {"mounting_position": "key_area_ground_floor"}, {"mounting_position": "upper_wall"}),
        rule("projecting_size", ["form.width_m", "form.height_m"],
             "form.width_m * form.height_m <= 4.0",
             "悬挑、突出式招牌的单面面积不宜超过4平方米，请核对尺寸", "a projecting sign should not exceed 4 m² per face: "
             "please check its size", f"{SIGNBOARDS}第六条（户外招牌设置技术规范）",
             when=_is("mounting_position", "projecting") + " && " + _guard("width_m", "height_m")
             + " && is_number(form.width_m) && is_number(form.height_m)", severity="warning",
             passing=[_f({"mounting_position": "projecting", "width_m": 0.8, "height_m": 2.0})],
             failing=[_f({"mounting_position": "projecting", "width_m": 3.0, "height_m": 2.0})]),
    ],
    # 对户外广告设施设置的许可
    "LR-XK-006": [
        _needs("public_site_right", _is("site_type", "public_site"),
               "利用道路、广场等公共场地设置的，请上传阵地使用权取得文件（招标、拍卖等方式取得）",
               "a facility on a road, square or other public site needs the document granting the right to use the "
               "site (awarded by tender or auction)", f"{ADVERTISING}（公共阵地使用权的取得）", "public_site_right",
               {"site_type": "public_site"}, {"site_type": "own_building"}),
        _needs("light_control_plan", _is("facility_type", "led_screen"),
               "设置LED显示屏的，请上传亮度控制和防光污染方案", "an LED screen needs a brightness-control and light-pollution plan",
               f"{AMENITY_SH}（景观照明和光污染控制）", "led_light_control",
               {"facility_type": "led_screen"}, {"facility_type": "light_box"}),
        rule("start_within_a_year", ["form.start_date"], "days_between(today, form.start_date) <= 365",
             "设置开始日期距申请之日超过1年，需由审查人员核实设置计划", "the start is more than a year away: a reviewer "
             "will check the plan", f"{ADVERTISING}（设置期限）",
             when="has(form.start_date) && is_date(form.start_date)",
             severity="warning",
             passing=[_f({"start_date": "2030-03-01"}, today="2030-01-01")],
             failing=[_f({"start_date": "2031-03-01"}, today="2030-01-01")]),
    ],
    # 对临时使用绿地的许可
    "LR-XK-007": [
        _max_period(366, "临时使用绿地的期限不得超过1年（到期确需延长的另行申请延期），请缩短“结束日期”",
                    "temporary use of green space is granted for at most 1 year (an extension is applied for "
                    "separately): please bring the end date forward", f"{GREENING_SH}第二十八条；{GREENING_CN}第二十条"),
        _committed("restoration_committed", "临时使用绿地期满须恢复绿地原状，请勾选恢复承诺",
                   "green space used temporarily must be restored when the period ends: please give the commitment",
                   f"{GREENING_CN}第二十条；{GREENING_SH}第二十八条", "restoration_commitment"),
        _needs("tree_protection_plan", "has(form.affects_trees) && form.affects_trees == true",
               "临时使用绿地涉及树木的，请上传树木保护或迁移方案", "temporary use affecting trees needs a tree protection "
               "or transplanting plan", f"{GREENING_CN}第二十一条；{GREENING_SH}第二十八条", "trees_protection_plan",
               {"affects_trees": True}, {"affects_trees": False}),
    ],
    # 对迁移树木的许可
    "LR-XK-008": [
        rule("statutory_reason", ["form.reason"], 'form.reason != "other"',
             "迁移理由不属于条例规定的可迁移情形，需由审查人员核实",
             "the reason given is not one the regulation allows for moving trees: a reviewer will check it",
             f"{GREENING_SH}第二十九条", when="has(form.reason)", severity="warning",
             passing=[_f({"reason": "construction"})], failing=[_f({"reason": "other"})]),
        rule("possible_old_tree", ["form.max_trunk_diameter_cm"], "form.max_trunk_diameter_cm < 80.0",
             "胸径80厘米以上的树木可能属于古树名木或古树后续资源（严禁迁移古树名木），需由审查人员核实树龄",
             "a trunk of 80 cm or more may be a heritage tree (which may not be moved): a reviewer will check its age",
             f"{GREENING_CN}第二十四条；{OLD_TREES}", when="has(form.max_trunk_diameter_cm) && "
             "is_number(form.max_trunk_diameter_cm)", severity="warning",
             passing=[_f({"max_trunk_diameter_cm": 35.0})], failing=[_f({"max_trunk_diameter_cm": 120.0})]),
        rule("different_site", ["form.to_address"], "form.to_address != form.from_address",
             "移植地地址与树木现所在地址相同，请填写移植地的实际地址", "the transplant site is the same as the tree's "
             "present site: please give the actual transplant site", f"{GREENING_SH}第二十九条",
             when=_guard("to_address", "from_address"),
             passing=[_f({"from_address": "上海市徐汇区漕溪北路1号", "to_address": "上海市闵行区苗圃路8号"})],
             failing=[_f({"from_address": "上海市徐汇区漕溪北路1号", "to_address": "上海市徐汇区漕溪北路1号"})]),
    ],
    # 对临时性户外广告设置的许可
    "LR-XK-009": [
        _needs("public_site_consent", "has(form.on_public_site) && form.on_public_site == true",
               "利用道路、广场等公共场地设置的，请上传场地管理部门的同意意见",
               "advertising on a road, square or other public site needs the consent of the site's managing authority",
               f"{ADVERTISING}（临时性户外广告的设置条件）；{AMENITY_SH}", "public_site_consent",
               {"on_public_site": True}, {"on_public_site": False}),
        rule("within_event", ["form.start_date"], "days_between(today, form.start_date) <= 90",
             "临时性户外广告的设置开始日期距申请之日不应超过3个月，请临近活动时申请",
             "temporary advertising is applied for at most 3 months before it is set: please apply nearer the event",
             f"{ADVERTISING}（临时性户外广告）", when="has(form.start_date) && is_date(form.start_date)",
             severity="warning",
             passing=[_f({"start_date": "2030-02-01"}, today="2030-01-01")],
             failing=[_f({"start_date": "2030-06-01"}, today="2030-01-01")]),
    ],
    # 对林业植物产地检疫的许可
    "LR-XK-010": [
        rule("planting_density", ["form.seedling_quantity", "form.nursery_area_m2"],
             "form.seedling_quantity <= form.nursery_area_m2 * 500.0",
             "申报的种苗数量超过生产面积可容纳的数量（每平方米超过500株），需由审查人员核实",
             "the seedlings declared exceed what the nursery area can hold (more than 500 per m²): a reviewer "
             "will check", f"{PLANT_QUARANTINE}第十一条；《植物检疫条例实施细则（林业部分）》（产地检疫）",
             when=_guard("seedling_quantity", "nursery_area_m2") + " && is_number(form.seedling_quantity) && "
             "is_number(form.nursery_area_m2)",
             severity="warning",
             passing=[_f({"seedling_quantity": 20000.0, "nursery_area_m2": 5000.0})],
             failing=[_f({"seedling_quantity": 2000000.0, "nursery_area_m2": 1000.0})]),
        _needs("seed_licence", "has(form.planned_dispatch) && form.planned_dispatch == true",
               "计划调出本市销售的种苗，须具有林木种子生产经营许可证，请上传",
               "seedlings to be sold outside Shanghai need the forest seed production and trade licence: please upload it",
               f"{SEED_LAW}第三十一条", "seed_licence", {"planned_dispatch": True}, {"planned_dispatch": False},
               severity="warning"),
    ],
    # 对出售、购买、利用国家重点保护陆生野生动物及其制品的审批
    "LR-XK-011": [
        rule("special_purpose", ["form.purpose"], 'form.purpose != "other"',
             "“其他特殊情况”须说明理由并由审查人员认定", "\"other special circumstances\" must be explained and are judged "
             "by a reviewer", f"{WILDLIFE_LAW}第二十八条", when="has(form.purpose)", severity="warning",
             passing=[_f({"purpose": "scientific_research"})], failing=[_f({"purpose": "other"})]),
        _needs("trade_contract", _is("activity", "sell", "purchase"),
               "出售、购买的，请上传交易双方的合同或协议", "a sale or purchase needs the contract between the parties",
               f"{WILDLIFE_LAW}第二十八条", "trade_needs_contract", {"activity": "sell"}, {"activity": "use"}),
        _needs("facility_statement", _is("specimen_type", "live"),
               "涉及活体的，请上传场所、设施和饲养管理条件说明", "live animals need a statement of the premises, "
               "facilities and husbandry", f"{WILDLIFE_LAW}第二十五条、第二十八条", "live_animal_facilities",
               {"specimen_type": "live"}, {"specimen_type": "product"}),
    ],
    # 对占用已建成绿地的许可
    "LR-XK-012": [
        rule("public_green_only_for_public_works", ["form.public_facility"],
             '!(' + _is("green_space_type", "park") + ') || form.public_facility == true',
             "占用公园绿地仅限城市基础设施或者公共服务设施建设，本项目不符合占用条件",
             "park green space may only be occupied for city infrastructure or public-service facilities",
             f"{GREENING_SH}第二十七条", when="has(form.public_facility)",
             passing=[_f({"green_space_type": "park", "public_facility": True}),
                      _f({"green_space_type": "institutional", "public_facility": False})],
             failing=[_f({"green_space_type": "park", "public_facility": False})]),
        _needs("tree_transplant_plan", "has(form.affected_tree_count) && is_number(form.affected_tree_count) && "
               "form.affected_tree_count > 0.0",
               "占用绿地涉及树木的，请上传树木迁移方案（迁移树木另须取得许可）",
               "occupying green space with trees on it needs a tree transplanting plan (moving trees needs its own permit)",
               f"{GREENING_SH}第二十七条、第二十九条", "trees_transplant_plan",
               {"affected_tree_count": 12.0}, {"affected_tree_count": 0.0}),
        rule("compensation_by_rebuilding", ["form.compensation_mode"],
             '!(' + _is("green_space_type", "park") + ') || form.compensation_mode == "rebuild"',
             "占用公园绿地的，应当按照“占一补一”的原则补建绿地；选择缴纳补偿费的，需由审查人员核实无法补建的理由",
             "occupied park green space is to be replaced by the same area elsewhere (占一补一): a reviewer checks why it cannot be",
             f"{GREENING_SH}第二十七条", when="has(form.compensation_mode)",
             severity="warning",
             passing=[_f({"green_space_type": "park", "compensation_mode": "rebuild"}),
                      _f({"green_space_type": "roadside", "compensation_mode": "compensation_fee"})],
             failing=[_f({"green_space_type": "park", "compensation_mode": "compensation_fee"})]),
    ],
    # 对从事城市生活垃圾经营性清扫、收集、运输服务的许可
    "LR-XK-013": [
        rule("parking_space", ["form.parking_area_m2"], "form.parking_area_m2 >= form.vehicle_count * 30.0",
             "停车场面积不足以停放申报的收运车辆（每车至少30平方米），需由审查人员核实",
             "the depot cannot park the declared vehicles (at least 30 m² each): a reviewer will check",
             f"{DOMESTIC_WASTE}第二十条", when=_guard("parking_area_m2", "vehicle_count")
             + " && is_number(form.parking_area_m2) && is_number(form.vehicle_count)",
             severity="warning",
             passing=[_f({"parking_area_m2": 600.0, "vehicle_count": 12.0})],
             failing=[_f({"parking_area_m2": 100.0, "vehicle_count": 12.0})]),
        rule("crew", ["form.staff_count"], "form.staff_count >= form.vehicle_count",
             "作业人员数少于收运车辆数，车辆无法配备驾驶作业人员，需由审查人员核实", "fewer staff than vehicles: the vehicles "
             "cannot all be crewed; a reviewer will check", f"{DOMESTIC_WASTE}第二十条",
             when=_guard("staff_count", "vehicle_count") + " && is_number(form.staff_count) && is_number(form.vehicle_count)",
             severity="warning",
             passing=[_f({"staff_count": 30.0, "vehicle_count": 12.0})],
             failing=[_f({"staff_count": 5.0, "vehicle_count": 12.0})]),
    ],
    # 对建设工程占用林地审核
    "LR-XK-014": [
        _max_period(731, "临时使用林地的期限一般不超过2年，请缩短“临时使用结束日期”",
                    "temporary use of forest land is for at most 2 years: please bring the end date forward",
                    f"{FOREST_LAW}第三十八条", when=_is("use_type", "temporary"), extra={"use_type": "temporary"}),
        rule("beyond_city_authority", ["form.forest_area_m2"],
             '(form.forest_category == "public_welfare" && form.forest_area_m2 < 100000.0) || '
             '(form.forest_category == "commercial" && form.forest_area_m2 < 350000.0)',
             "使用林地面积超过本市审核权限（公益林10公顷、商品林35公顷），须报国家林业和草原主管部门审核，审查人员将转报",
             "the forest area exceeds the city's authority (10 ha of public-welfare, 35 ha of commercial forest): "
             "a reviewer will refer it to the national forestry authority",
             f"{FOREST_LAND}第五条", when=_guard("forest_area_m2", "forest_category") + " && is_number(form.forest_area_m2)",
             severity="warning",
             passing=[_f({"forest_category": "public_welfare", "forest_area_m2": 20000.0})],
             failing=[_f({"forest_category": "public_welfare", "forest_area_m2": 150000.0}),
                      _f({"forest_category": "commercial", "forest_area_m2": 400000.0})]),
    ],
    # 机动车清洗企业设立备案
    "LR-BA-001": [
        _committed("water_recycling", "机动车清洗场所应当配备节水循环用水设备，未配备的不予备案",
                   "a vehicle-washing business must have water-recycling equipment", f"{CAR_WASH}（设立条件）",
                   "water_recycling"),
        _committed("sewage_treatment", "机动车清洗场所应当配备污水沉淀、隔油设施，未配备的不予备案",
                   "a vehicle-washing business must have sedimentation and grease-separation facilities",
                   f"{CAR_WASH}（设立条件）；{AMENITY_SH}", "sewage_treatment"),
    ],
    # 对餐厨垃圾产生单位的种类和产生量的申报
    "LR-BA-002": [
        rule("declaration_year", ["form.declaration_year"],
             "form.declaration_year == year(today) || form.declaration_year == year(today) + 1.0",
             "申报年度应为本年度或下一年度", "the declaration is for this year or the next",
             f"{KITCHEN_WASTE}（产生量申报）", when="has(form.declaration_year) && is_number(form.declaration_year)",
             passing=[_f({"declaration_year": 2030.0}, today="2030-05-01"),
                      _f({"declaration_year": 2031.0}, today="2030-12-01")],
             failing=[_f({"declaration_year": 2028.0}, today="2030-05-01")]),
        rule("oil_within_waste", ["form.daily_waste_oil_kg"],
             "form.daily_waste_oil_kg <= form.daily_kitchen_waste_kg",
             "废弃食用油脂日产生量大于餐厨垃圾日产生量，需由审查人员核实", "the waste cooking oil declared exceeds the "
             "kitchen waste declared: a reviewer will check both", f"{KITCHEN_WASTE}（产生量申报）；{HOUSEHOLD_WASTE_SH}",
             when=_guard("daily_waste_oil_kg", "daily_kitchen_waste_kg") + " && is_number(form.daily_waste_oil_kg)"
             " && is_number(form.daily_kitchen_waste_kg)",
             severity="warning",
             passing=[_f({"daily_kitchen_waste_kg": 60.0, "daily_waste_oil_kg": 3.0})],
             failing=[_f({"daily_kitchen_waste_kg": 6.0, "daily_waste_oil_kg": 30.0})]),
        rule("plausible_per_seat", ["form.daily_kitchen_waste_kg"],
             "form.daily_kitchen_waste_kg >= form.seats * 0.05",
             "餐厨垃圾日产生量明显低于就餐位数对应的产生量（每座每日不足0.05千克），请核实是否少报",
             "the kitchen waste declared is far below what the seats produce (under 0.05 kg per seat a day): "
             "a reviewer will check for under-declaration", f"{KITCHEN_WASTE}（产生量申报）",
             when=_is("business_type", "restaurant", "canteen") + " && " + _guard("daily_kitchen_waste_kg", "seats")
             + " && is_number(form.daily_kitchen_waste_kg) && is_number(form.seats)", severity="warning",
             passing=[_f({"business_type": "restaurant", "seats": 120.0, "daily_kitchen_waste_kg": 40.0})],
             failing=[_f({"business_type": "restaurant", "seats": 400.0, "daily_kitchen_waste_kg": 5.0})]),
    ],
    # 户外招牌设置备案
    "LR-BA-003": [
        _committed("commitment_signed", "户外招牌设置备案实行告知承诺，请先签署告知承诺书",
                   "the shop-sign filing is made on a signed commitment: please sign it first",
                   f"{SIGNBOARDS}（备案与告知承诺）", "commitment_signed"),
        rule("ground_floor_area", ["form.width_m", "form.height_m"], "form.width_m * form.height_m <= 30.0",
             "门头招牌单块面积超过30平方米，可能超出备案范围（应申请户外招牌设置审批），需由审查人员核实",
             "a shop sign of more than 30 m² may be beyond what may be filed (approval, LR-XK-005): a reviewer will check",
             f"{SIGNBOARDS}第六条（户外招牌设置技术规范）", when=_guard("width_m", "height_m")
             + " && is_number(form.width_m) && is_number(form.height_m)",
             severity="warning",
             passing=[_f({"width_m": 8.0, "height_m": 1.2})], failing=[_f({"width_m": 25.0, "height_m": 1.5})]),
    ],
    # 对户外广告设施设置备案
    "LR-BA-004": [
        rule("total_area", ["form.quantity", "form.area_m2"], "form.quantity * form.area_m2 <= 50.0",
             "备案设施总面积超过50平方米，可能超出备案范围（应申请户外广告设施设置许可），需由审查人员核实",
             "more than 50 m² of facilities in all may be beyond what may be filed (permit, LR-XK-006): a reviewer will check",
             f"{ADVERTISING}（设置备案的范围）", when=_guard("quantity", "area_m2")
             + " && is_number(form.quantity) && is_number(form.area_m2)",
             severity="warning",
             passing=[_f({"quantity": 4.0, "area_m2": 2.0})], failing=[_f({"quantity": 10.0, "area_m2": 8.0})]),
    ],
}

# Version 1's rules that a substantive rule replaces (same id in version 2): LR-XK-007's period, 2 years in
# version 1, is 1 year; LR-XK-014's (2 years) now applies to temporary use only, as the law says.
REPLACED = {"LR-XK-007": {"dates.max_period"}, "LR-XK-014": {"dates.max_period"}}
