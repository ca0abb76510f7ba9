"""The access form is checked field by field before anything is sent."""

from __future__ import annotations

import pytest

from laion_fmri_tui.core.errors import Category
from laion_fmri_tui.core.access.errors import FormInvalidError
from laion_fmri_tui.core.access.form import (
    FIELD_HELP, FIELD_LABELS, MIN_PURPOSE_CHARS, AccessForm, validate_field,
)

PURPOSE = "Decoding visual categories from fMRI responses."


def valid_form(**changes) -> AccessForm:
    values = dict(
        name="Jane Doe", email="jane.doe@uni-example.de", institution="Uni Example",
        research_purpose=PURPOSE, accepted_terms=True, acknowledged_privacy=True,
    )
    values.update(changes)
    return AccessForm(**values)


def test_a_complete_form_is_valid():
    assert valid_form().validate() == {}


def test_an_empty_form_names_every_required_field_once():
    problems = AccessForm().validate()
    assert list(problems) == [
        "name", "email", "institution", "research_purpose", "accepted_terms", "acknowledged_privacy",
    ]
    assert len(set(problems.values())) == len(problems)  # each its own message
    assert all(isinstance(msg, str) and "\n" not in msg for msg in problems.values())


@pytest.mark.parametrize("field", ["name", "institution"])
def test_blank_text_is_missing(field):
    assert list(valid_form(**{field: "   "}).validate()) == [field]


@pytest.mark.parametrize("email", [
    "jane", "jane@", "@uni.de", "jane@uni", "jane@@uni.de", "ja ne@uni.de", "jane@uni..de",
    "jane@.uni.de", "jane@uni.de.", "a@b@c.de",
])
def test_malformed_emails_are_rejected(email):
    problems = valid_form(email=email).validate()
    assert list(problems) == ["email"]
    assert "email" in problems["email"]


@pytest.mark.parametrize("email", ["jane.doe@uni-example.de", "  j+x@mail.uni.ac.uk  ", "J@X.ORG"])
def test_plausible_emails_pass(email):
    assert valid_form(email=email).validate() == {}


def test_short_purpose_says_how_many_characters_are_missing():
    message = validate_field("research_purpose", "  fifteen chars  ".ljust(40))
    # 13 characters after strip ("fifteen chars")
    assert message is not None
    assert f"{MIN_PURPOSE_CHARS - 13} more characters" in message
    assert "1 more character needed" in validate_field("research_purpose", "x" * (MIN_PURPOSE_CHARS - 1))
    assert validate_field("research_purpose", "x" * MIN_PURPOSE_CHARS) is None


@pytest.mark.parametrize("field", ["accepted_terms", "acknowledged_privacy"])
def test_both_checkboxes_must_be_ticked(field):
    problems = valid_form(**{field: False}).validate()
    assert list(problems) == [field]
    assert validate_field(field, "yes") is not None  # only a real True counts


def test_pi_is_optional():
    assert validate_field("pi_or_supervisor", "") is None
    assert validate_field("pi_or_supervisor", None) is None


def test_unknown_field_is_a_programming_error():
    with pytest.raises(KeyError):
        validate_field("favourite_colour", "blue")


def test_payload_has_exactly_the_upstream_fields():
    payload = valid_form(name="  Jane Doe ", pi_or_supervisor="   ").to_payload("2026-05-11")
    assert payload == {
        "name": "Jane Doe",
        "email": "jane.doe@uni-example.de",
        "institution": "Uni Example",
        "pi_or_supervisor": None,
        "research_purpose": PURPOSE,
        "accepted_terms": True,
        "acknowledged_privacy": True,
        "terms_version": "2026-05-11",
        "source": "cli",
    }
    assert valid_form(pi_or_supervisor="Prof. X").to_payload("v")["pi_or_supervisor"] == "Prof. X"


def test_payload_of_an_invalid_form_raises_value_error_listing_fields():
    with pytest.raises(ValueError) as caught:
        valid_form(email="nope", accepted_terms=False).to_payload("2026-05-11")
    error = caught.value
    assert isinstance(error, FormInvalidError) and error.category is Category.USAGE
    assert set(error.field_errors) == {"email", "accepted_terms"}
    assert "email" in str(error) and "\n" not in str(error)


def test_payload_needs_a_terms_version():
    with pytest.raises(ValueError, match="terms version"):
        valid_form().to_payload("")


def test_every_field_has_a_label_and_help():
    names = [f for f in AccessForm.__dataclass_fields__]
    assert list(FIELD_LABELS) == names
    assert set(FIELD_HELP) == set(names)
    assert str(MIN_PURPOSE_CHARS) in FIELD_HELP["research_purpose"]
