"""Migrations 14, 17 and 18: projects stored as "not supported" are parsed again, on SQLite and
PostgreSQL."""

from __future__ import annotations

from labelloop.storage.base import open_storage

NER = ('<View><Text name="text" value="$text"/><Labels name="ents" toName="text">'
       '<Label value="PER"/><Label value="LOC"/></Labels></View>')
BOXES = ('<View><Image name="image" value="$image"/><RectangleLabels name="box" toName="image">'
         '<Label value="cat"/></RectangleLabels></View>')
OLD = {"supported": False, "reason": "labelloop serves text classification (<Choices> on <Text>) "
       "so far; this config has: Labels 'ents'", "instructions": "Tag people."}


def test_migration_14_serves_a_ner_project_stored_as_unsupported(any_url: str) -> None:
    first = open_storage(any_url)
    with first.write() as tx:
        for pid, config in ((1, NER), (2, BOXES), (3, "<View><Text")):
            tx.save_project(pid, title="p", label_config=config, schema=OLD, supported=False,
                            unsupported_reason=OLD["reason"])
        tx.conn.exec_driver_sql("DELETE FROM schema_version WHERE version = 14")
    first.close()
    again = open_storage(any_url)
    assert again.applied_migrations == [14]
    with again.read() as tx:
        ner, boxes, broken = (tx.get_project(i) for i in (1, 2, 3))
    assert ner is not None and boxes is not None and broken is not None
    assert ner.supported and ner.unsupported_reason is None
    assert ner.schema is not None and ner.schema["task_type"] == "text_spans"
    assert ner.schema["instructions"] == "Tag people."
    assert [c["output"] for c in ner.schema["choices"]] == ["PER", "LOC"]
    assert not boxes.supported and boxes.schema == OLD  # still not served: left as it was
    assert not broken.supported and broken.schema == OLD  # does not parse: left as it was
    again.close()


IMAGE = ('<View><Image name="image" value="$image"/><Choices name="label" toName="image">'
         '<Choice value="cat"/><Choice value="dog"/></Choices></View>')


def test_migration_17_serves_an_image_project_stored_as_unsupported(any_url: str) -> None:
    first = open_storage(any_url)
    with first.write() as tx:
        for pid, config in ((1, IMAGE), (2, BOXES)):
            tx.save_project(pid, title="p", label_config=config, schema=OLD, supported=False,
                            unsupported_reason=OLD["reason"])
        tx.conn.exec_driver_sql("DELETE FROM schema_version WHERE version = 17")
    first.close()
    again = open_storage(any_url)
    assert again.applied_migrations == [17]
    with again.read() as tx:
        image, boxes = (tx.get_project(i) for i in (1, 2))
    assert image is not None and image.supported and image.schema is not None
    assert image.schema["modality"] == "image" and image.schema["data_key"] == "image"
    assert boxes is not None and not boxes.supported
    again.close()


VIDEO = ('<View><Video name="clip" value="$video"/><Choices name="motion" toName="clip">'
         '<Choice value="left"/><Choice value="right"/></Choices></View>')
VIDEO_BOXES = '<View><Video name="v" value="$v"/><VideoRectangle name="b" toName="v"/></View>'


def test_migration_18_serves_a_video_project_stored_as_unsupported(any_url: str) -> None:
    first = open_storage(any_url)
    with first.write() as tx:
        for pid, config in ((1, VIDEO), (2, VIDEO_BOXES)):
            tx.save_project(pid, title="p", label_config=config, schema=OLD, supported=False,
                            unsupported_reason="Choices 'motion' on Video: video not served yet")
        tx.conn.exec_driver_sql("DELETE FROM schema_version WHERE version = 18")
    first.close()
    again = open_storage(any_url)
    assert again.applied_migrations == [18]
    with again.read() as tx:
        video, boxes = (tx.get_project(i) for i in (1, 2))
    assert video is not None and video.supported and video.unsupported_reason is None
    assert video.schema is not None and video.schema["modality"] == "video"
    assert video.schema["data_key"] == "video" and video.schema["to_name"] == "clip"
    assert boxes is not None and not boxes.supported and boxes.schema == OLD
    again.close()
