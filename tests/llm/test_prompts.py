"""Prompt files: defaults, per-file overrides, placeholder checks, rendering, hashing."""

from __future__ import annotations

from pathlib import Path

import pytest

from labelloop.labelconfig.schema import LabelSchema, parse_label_config
from labelloop.llm import LLMLabeler
from labelloop.llm.errors import PromptError
from labelloop.llm.prompts import PARTS, load_prompts, render_messages, render_retry
from tests.llm.conftest import llm_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("task_type", ["text_classification", "span_extraction",
                                       "media_classification"])
def test_top_level_prompts_are_the_packaged_defaults(task_type: str) -> None:
    for part in PARTS:
        name = f"{task_type}.{part}.md"
        packaged = (ROOT / "backend/labelloop/prompts" / name).read_text()
        assert (ROOT / "prompts" / name).read_text() == packaged, name


def test_rendered_prompt_has_labels_hints_instructions_and_text(schema: LabelSchema) -> None:
    with_instructions = parse_label_config(
        schema_xml(), instructions="<p>Sarcasm counts as <b>negative</b>.</p>")
    msgs = render_messages(load_prompts(), with_instructions, "Great, another sequel.",
                           mode="json_schema")
    system, user = msgs[0]["content"], msgs[1]["content"]
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert "- positive: the author liked it" in system
    assert "- negative\n" in system
    assert "Instructions from the project:\nSarcasm counts as negative.\n" in system
    assert "<p>" not in system
    assert '{"label": "<label>"}' in system
    assert "<text>\nGreat, another sequel.\n</text>" in user
    assert "Examples" not in user


def test_rendering_depends_on_output_mode_and_multiple(schema, multi_schema) -> None:
    t = load_prompts()
    text_mode = render_messages(t, schema, "x", mode="text")[0]["content"]
    tools_mode = render_messages(t, schema, "x", mode="tools")[0]["content"]
    multi = render_messages(t, multi_schema, "x", mode="json_schema")[0]["content"]
    assert "Answer with the label only" in text_mode
    assert "record_label" in tools_mode
    assert '{"labels": ["<label>", ...]}' in multi and "every label that applies" in multi


def test_examples_and_dollar_signs_are_inserted_verbatim(schema) -> None:
    msgs = render_messages(load_prompts(), schema, "costs $labels and $$5",
                           mode="json_schema", examples=[("good $text", ["positive"])])
    user = msgs[1]["content"]
    assert "costs $labels and $$5" in user
    assert "<example>\n<text>\ngood $text\n</text>\nLabel: positive\n</example>" in user
    assert user.index("<example>") < user.rindex("<text>\ncosts")


def test_retry_prompt_names_the_rejected_answer(schema) -> None:
    text = render_retry(load_prompts(), schema, "banana", mode="text")
    assert '"banana"' in text and "positive, negative, neutral" in text


def test_override_folder_replaces_files_one_by_one(tmp_path: Path, schema) -> None:
    (tmp_path / "text_classification.system.md").write_text("Pick one of: $label_names")
    t = load_prompts(override_dir=tmp_path)
    assert t.system == "Pick one of: $label_names"
    assert t.task == load_prompts().task  # not overridden: the packaged file
    assert t.sources[0] == str(tmp_path / "text_classification.system.md")
    assert t.sources[1].startswith("package:")
    assert render_messages(t, schema, "x", mode="text")[0]["content"] == \
        "Pick one of: positive, negative, neutral"


def test_prompt_hash_is_part_of_the_model_version(tmp_path: Path, llm_storage) -> None:
    default = LLMLabeler(llm_settings(tmp_path), llm_storage)
    custom_dir = tmp_path / "p"
    custom_dir.mkdir()
    (custom_dir / "text_classification.task.md").write_text("Text: $text")
    custom = LLMLabeler(llm_settings(tmp_path, llm_prompts_dir=custom_dir), llm_storage)
    assert default.model_version.startswith("llm-fake-model-p")
    assert default.model_version.endswith(default.templates.hash)
    assert custom.model_version != default.model_version
    assert LLMLabeler(llm_settings(tmp_path), llm_storage).model_version == default.model_version


@pytest.mark.parametrize("content, message", [
    ("Label $txt", "unknown placeholders ['txt']"),
    ("Costs 5$ only", "a '$' not followed by a name"),
    ("no text here", "must contain $text"),
])
def test_bad_override_is_refused(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "text_classification.task.md").write_text(content)
    with pytest.raises(PromptError, match=message.replace("$", r"\$").replace("[", r"\[")):
        load_prompts(override_dir=tmp_path)


def test_missing_override_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="does not exist"):
        load_prompts(override_dir=tmp_path / "nope")


def schema_xml() -> str:
    from tests.llm.conftest import CONFIG

    return CONFIG


def test_instructions_html_becomes_text() -> None:
    from labelloop.llm.prompts import clean_instructions

    assert clean_instructions("<h2>Rules</h2><p>One &amp; two</p><ul><li>a</li><li>b</li></ul>") \
        == "Rules\nOne & two\na\nb"
    assert clean_instructions(None) == ""
