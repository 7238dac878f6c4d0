"""Pure parts of the pre-fill and the measures: which values fit a field, what the profile fills, periods."""
from __future__ import annotations

import pytest

from kit.auth import Principal, SubjectKind
from kit.contracts.matters import FieldOption, FormFieldSpec
from prequal.service.measures import with_ratios
from prequal.service.prefill import _fits, _profile

ENUM = FormFieldSpec(key="applicant_type", label="申请人类型", type="enum",
                     options=[FieldOption(value="organisation", label="单位"), FieldOption(value="individual", label="个人")])


@pytest.mark.parametrize(("spec", "value", "ok"), [
    (ENUM, "organisation", True), (ENUM, "company", False),
    (FormFieldSpec(key="n", label="n", type="integer", min=1, max=10), 3, True),
    (FormFieldSpec(key="n", label="n", type="integer", min=1, max=10), 11, False),
    (FormFieldSpec(key="n", label="n", type="integer"), 2.5, False),
    (FormFieldSpec(key="n", label="n", type="integer"), True, False),
    (FormFieldSpec(key="a", label="a", type="decimal"), 2.5, True),
    (FormFieldSpec(key="b", label="b", type="boolean"), False, True),
    (FormFieldSpec(key="b", label="b", type="boolean"), "yes", False),
    (FormFieldSpec(key="s", label="s", type="string", max_length=4), "上海市区", True),
    (FormFieldSpec(key="s", label="s", type="string", max_length=4), "上海市徐汇", False),
    (FormFieldSpec(key="s", label="s", type="string"), "", False),
    (FormFieldSpec(key="s", label="s", type="string"), 12, False),
])
def test_only_values_valid_for_the_field_are_offered(spec: FormFieldSpec, value: object, ok: bool) -> None:
    assert _fits(spec, value) is ok


def test_the_profile_fills_type_credit_code_and_name() -> None:
    company = Principal(subject="u-c", kind=SubjectKind.COMPANY, name="上海演示绿化工程有限公司", org_code="91310115MA1H7GXQ3E")
    person = Principal(subject="u-p", kind=SubjectKind.PERSON, name="张三")
    uscc = FormFieldSpec(key="applicant_uscc", label="统一社会信用代码", type="uscc")
    contact = FormFieldSpec(key="contact_name", label="联系人", type="string")
    assert _profile(company, ENUM) == "organisation" and _profile(person, ENUM) == "individual"
    assert _profile(company, uscc) == "91310115MA1H7GXQ3E" and _profile(person, uscc) is None
    assert _profile(person, contact) == "张三" and _profile(company, contact) is None  # a company is not a contact
    assert _profile(company, FormFieldSpec(key="company_name", label="单位名称", type="string")) == "上海演示绿化工程有限公司"


def test_ratios_are_null_without_a_denominator() -> None:
    counts = dict.fromkeys(("submitted", "prereviewed", "decided", "accepted", "accepted_first_time",
                            "acceptance_decided", "prefills",
                            "form_fields", "fields_prefilled", "prefills_submitted", "fields_prefilled_submitted",
                            "fields_kept", "returned_by_prereview", "wrongly_blocked"), 0)
    assert with_ratios(counts)["prereview_coverage"] is None
    counts |= {"submitted": 4, "prereviewed": 3, "form_fields": 10, "fields_prefilled": 7}
    got = with_ratios(counts)
    assert got["prereview_coverage"] == 0.75 and got["prefill_ratio"] == 0.7
    # A refusal counts against first-time acceptance: one accepted at once, one refused → 1 of 2.
    counts |= {"accepted": 1, "accepted_first_time": 1, "acceptance_decided": 2}
    assert with_ratios(counts)["first_time_acceptance_rate"] == 0.5
