"""``<Choices>`` on images, audio and video through the label layer (issue 19 §2, §6): the schema
records the object's modality, labels read and build as for text, a task's input is its media
value (never its text), and image and video controls that are not served yet say why."""

from __future__ import annotations

import copy

import pytest

from labelloop.errors import InvalidInput
from labelloop.labelconfig.kinds import (
    Unusable,
    build_result,
    read_label,
    task_input,
    task_text,
    validate_result,
)
from labelloop.labelconfig.schema import LabelSchema, parse_label_config
from labelloop.modalities import SERVED, TaskInput, object_modality, pending_reason

IMAGE_XML = """<View><Image name="image" value="$image"/>
<Choices name="label" toName="image"><Choice value="cat"/><Choice value="dog" alias="d"/>
</Choices></View>"""
AUDIO_XML = """<View><Audio name="audio" value="$audio"/>
<Choices name="kind" toName="audio" choice="multiple">
<Choice value="speech"/><Choice value="music"/><Choice value="noise"/></Choices></View>"""
AUDIO_PLUS_XML = AUDIO_XML.replace("<Audio ", "<AudioPlus ")
VIDEO_XML = """<View><Video name="clip" value="$video" framerate="25"/>
<Choices name="motion" toName="clip"><Choice value="left"/><Choice value="right"/>
<Choice value="still"/></Choices></View>"""


@pytest.mark.parametrize("xml,modality,key,to_name,multiple,label", [
    (IMAGE_XML, "image", "image", "image", False, ("d",)),
    (AUDIO_XML, "audio", "audio", "audio", True, ("speech", "noise")),
    (AUDIO_PLUS_XML, "audio", "audio", "audio", True, ("music",)),
    (VIDEO_XML, "video", "video", "clip", False, ("right",)),
])
def test_choices_on_media_parse_build_and_read_as_for_text(
        xml: str, modality: str, key: str, to_name: str, multiple: bool,
        label: tuple[str, ...]) -> None:
    schema = parse_label_config(xml)
    assert schema.supported and schema.reason is None
    assert schema.task_type == "text_classification"  # the label shape: a tuple of choices
    assert (schema.modality, schema.data_key, schema.to_name) == (modality, key, to_name)
    assert schema.multiple is multiple and schema.not_served == ()
    assert LabelSchema.from_json(schema.to_json()) == schema
    result = build_result(schema, label, text=None, score=0.7)
    assert result[0]["to_name"] == to_name and result[0]["type"] == "choices"
    validate_result(schema, result, text=None)
    assert read_label(schema, result, text=None) == label
    wrong = copy.deepcopy(result)
    wrong[0]["to_name"] = "text"
    with pytest.raises(InvalidInput, match="targets"):
        validate_result(schema, wrong, text=None)


def test_several_choices_in_a_single_choice_image_control_do_not_read() -> None:
    schema = parse_label_config(IMAGE_XML)
    region = {"from_name": "label", "to_name": "image", "type": "choices",
              "value": {"choices": ["cat", "d"]}}
    got = read_label(schema, [region], text=None)
    assert got == Unusable("several_choices_in_single_choice")


def test_a_media_task_input_is_its_value_and_it_has_no_text() -> None:
    schema = parse_label_config(IMAGE_XML)
    data = {"image": "/data/upload/1/043e349d-img0.png", "text": "a caption"}
    assert task_input(schema, data) == TaskInput("image", "/data/upload/1/043e349d-img0.png")
    assert task_text(schema, data) is None  # no text path ever takes a URL for a text
    assert task_input(schema, {"image": ["a.png", "b.png"]}) is None  # a list: not served
    assert task_input(schema, {"image": 123}) is None
    assert task_input(schema, {"image": "  "}) is None
    assert task_input(schema, {"other": "x.png"}) is None


def test_a_text_task_input_is_its_text() -> None:
    schema = parse_label_config(IMAGE_XML.replace("<Image", "<Text"))
    assert schema.modality == "text"
    assert task_input(schema, {"image": "hello"}) == TaskInput("text", "hello")
    assert task_text(schema, {"image": "hello"}) == "hello"


def test_a_schema_stored_before_modalities_reads_as_text() -> None:
    stored = parse_label_config(IMAGE_XML.replace("<Image", "<Text")).to_json()
    del stored["modality"], stored["not_served"]
    schema = LabelSchema.from_json(stored)
    assert schema.modality == "text" and schema.not_served == ()


def test_image_controls_beside_served_choices_are_reported_not_served() -> None:
    xml = """<View><Image name="image" value="$image"/>
    <RectangleLabels name="box" toName="image"><Label value="cat"/></RectangleLabels>
    <Choices name="label" toName="image"><Choice value="cat"/><Choice value="dog"/></Choices>
    <KeyPointLabels name="kp" toName="image"><Label value="eye"/></KeyPointLabels>
    <Choices name="second" toName="image"><Choice value="a"/><Choice value="b"/></Choices>
    </View>"""
    schema = parse_label_config(xml)
    assert schema.supported and schema.from_name == "label" and schema.modality == "image"
    assert schema.other_controls == ("RectangleLabels:box", "KeyPointLabels:kp",
                                     "Choices:second")
    assert schema.not_served == (
        "RectangleLabels 'box' on Image: bounding boxes are not served yet",
        "KeyPointLabels 'kp' on Image: key points are not served yet",
        ("Choices 'second' is not served: labelloop serves one control per project, here "
         "'label'"))


@pytest.mark.parametrize("tag,what", [
    ("RectangleLabels", "bounding boxes"), ("PolygonLabels", "polygons"),
    ("KeyPointLabels", "key points"), ("BrushLabels", "brush masks"),
    ("EllipseLabels", "ellipses"),
])
def test_image_only_controls_are_accepted_as_not_served_with_the_reason(tag: str,
                                                                       what: str) -> None:
    schema = parse_label_config(f'<View><Image name="img" value="$image"/><{tag} name="c" '
                                f'toName="img"><Label value="a"/></{tag}></View>')
    assert not schema.supported and schema.task_type is None
    why = f"{tag} 'c' on Image: {what} are not served yet"
    assert schema.not_served == (why,) and schema.reason is not None and why in schema.reason
    assert "<Image>" in schema.reason and "<Audio>" in schema.reason  # what is served


def test_choices_on_video_are_served_as_a_video_modality() -> None:
    schema = parse_label_config(VIDEO_XML)
    assert schema.supported and schema.not_served == () and schema.modality == "video"
    assert object_modality("Video") == "video" and pending_reason("Video") is None
    value = "/data/upload/1/5d1e2f3a-clip.mp4"
    assert task_input(schema, {"video": value, "text": "a caption"}) == TaskInput("video", value)
    assert task_text(schema, {"video": value}) is None
    assert SERVED["video"].fetch == "video" and SERVED["video"].embedder is not None


def test_video_only_controls_are_still_reported_not_served() -> None:
    xml = VIDEO_XML.replace("</View>", '<TimelineLabels name="t" toName="clip"><Label '
                            'value="a"/></TimelineLabels><VideoRectangle name="box" '
                            'toName="clip"/></View>')
    schema = parse_label_config(xml)
    assert schema.supported and schema.from_name == "motion" and schema.modality == "video"
    assert schema.not_served == (
        "TimelineLabels 't' on Video: timeline segments are not served yet",
        "VideoRectangle 'box' on Video: video boxes are not served yet")
    alone = parse_label_config('<View><Video name="v" value="$v"/><VideoRectangle name="box" '
                               'toName="v"/></View>')
    assert not alone.supported and alone.reason is not None
    assert "VideoRectangle 'box' on Video: video boxes are not served yet" in alone.reason
    assert "<Video>" in alone.reason  # what is served


def test_the_registry_maps_each_served_object_tag_to_one_modality() -> None:
    tags = [t for spec in SERVED.values() for t in spec.object_tags]
    assert len(tags) == len(set(tags))
    assert {t: object_modality(t) for t in tags} == {
        "Text": "text", "Image": "image", "Audio": "audio", "AudioPlus": "audio",
        "Video": "video"}
    assert all((spec.fetch is None) == (m == "text") for m, spec in SERVED.items())
    assert all((spec.embedder is None) == (m == "text") for m, spec in SERVED.items())
    assert pending_reason("Image") is None and pending_reason("Table") is None
