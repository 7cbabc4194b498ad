"""The ``text_triplets`` task type: which configs are triplet configs, reading and building
judgements; ordinary classification configs parse as before."""

from __future__ import annotations

import pytest

from labelloop.errors import InvalidInput
from labelloop.labelconfig.kinds import build_result, is_valid_result, read_label
from labelloop.labelconfig.labels import Unusable
from labelloop.labelconfig.schema import parse_label_config
from labelloop.labelconfig.triplets import judgement_of
from tests.triplets.configs import TRIPLET_CONFIG

TRIPLET_XML = TRIPLET_CONFIG  # the config docs/triplets.md gives
TWO_CHOICES_XML = """<View>
  <Text name="a" value="$anchor"/><Text name="b" value="$first"/><Text name="c" value="$second"/>
  <Choices name="pick" toName="b"><Choice value="first"/><Choice value="second"/></Choices>
</View>"""


def region(choice: str, from_name: str = "closer", to_name: str = "anchor") -> dict[str, object]:
    return {"from_name": from_name, "to_name": to_name, "type": "choices",
            "value": {"choices": [choice]}}


def test_a_triplet_config_parses_as_text_triplets() -> None:
    schema = parse_label_config(TRIPLET_XML)
    assert schema.supported and schema.task_type == "text_triplets"
    assert (schema.from_name, schema.to_name, schema.data_key) == ("closer", "anchor", "anchor")
    assert schema.labels == ["first", "second", "tie"]
    assert schema.choices[0].value == "The first is closer"


def test_two_choices_without_tie_are_a_triplet_config_too() -> None:
    schema = parse_label_config(TWO_CHOICES_XML)
    assert schema.task_type == "text_triplets" and schema.labels == ["first", "second"]
    assert schema.to_name == "b"


@pytest.mark.parametrize("choices, why", [
    ('<Choice value="yes"/><Choice value="no"/>', "first, second and optionally tie"),
    ('<Choice value="first"/><Choice value="second"/><Choice value="both"/>', "optionally tie"),
    ('<Choice value="first"/>', "first, second"),
])
def test_a_triplet_config_with_other_choices_says_why(choices: str, why: str) -> None:
    xml = TWO_CHOICES_XML.replace('<Choice value="first"/><Choice value="second"/>', choices)
    schema = parse_label_config(xml)
    assert not schema.supported and why in (schema.reason or "")


def test_multiple_choice_is_not_a_judgement() -> None:
    schema = parse_label_config(TWO_CHOICES_XML.replace('toName="b"',
                                                        'toName="b" choice="multiple"'))
    assert not schema.supported and "one choice" in (schema.reason or "")


@pytest.mark.parametrize("xml", [
    """<View><Text name="text" value="$text"/>
       <Choices name="c" toName="text"><Choice value="first"/><Choice value="second"/>
       <Choice value="tie"/></Choices></View>""",
    # two of the three fields: still classification on the first text
    """<View><Text name="a" value="$anchor"/><Text name="b" value="$first"/>
       <Choices name="c" toName="a"><Choice value="first"/><Choice value="second"/></Choices>
       </View>""",
])
def test_ordinary_choices_configs_stay_classification(xml: str) -> None:
    schema = parse_label_config(xml)
    assert schema.supported and schema.task_type == "text_classification"


def test_reading_and_building_judgements() -> None:
    schema = parse_label_config(TRIPLET_XML)
    assert read_label(schema, [region("second")]) == ("second",)
    assert judgement_of(("second",)) == "second" and judgement_of(("other",)) is None
    got = read_label(schema, [region("The first is closer")])  # the value, not the alias
    assert isinstance(got, Unusable) and got.reason == "label_not_in_config"
    assert isinstance(read_label(schema, []), Unusable)
    result = build_result(schema, ("tie",), score=0.7)
    assert result == [{**region("tie"), "score": 0.7}]
    assert is_valid_result(schema, result)
    assert not is_valid_result(schema, [region("first", to_name="first")])
    with pytest.raises(InvalidInput):
        build_result(schema, ("first", "second"))


def test_without_tie_a_tie_cannot_be_built() -> None:
    schema = parse_label_config(TWO_CHOICES_XML)
    with pytest.raises(InvalidInput):
        build_result(schema, ("tie",))
    assert build_result(schema, ("first",))[0]["to_name"] == "b"
