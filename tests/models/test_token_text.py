"""Tokens with code-point offsets (tweets: emoji, ZWJ, URLs, mentions) and spans <-> BIO."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from labelloop.labelconfig.spans import Span
from labelloop.models.token_text import (
    Token,
    bio_tag_set,
    bio_to_spans,
    spans_to_bio,
    token_texts,
    tokenize,
)


def words(text: str) -> list[str]:
    return token_texts(text, tokenize(text))


class TestTokenize:
    def test_words_and_punctuation_are_cut_apart(self) -> None:
        assert words("Hello, world!") == ["Hello", ",", "world", "!"]

    def test_offsets_are_code_points_into_the_text(self) -> None:
        text = "😀 Paris"
        (emoji, paris) = tokenize(text)
        assert (emoji, paris) == (Token(0, 1), Token(2, 7))
        assert text[paris.start:paris.end] == "Paris"

    def test_zwj_sequence_skin_tone_and_flag_stay_whole(self) -> None:
        coder = "👩\u200d💻"
        wave = "👋🏽"
        flag = "🇫🇷"
        assert words(f"{coder} {wave}{flag} ok") == [coder, wave, flag, "ok"]

    def test_combining_mark_stays_with_its_letter(self) -> None:
        assert words("cafe\u0301 noir") == ["cafe\u0301", "noir"]

    def test_url_is_one_token_without_trailing_punctuation(self) -> None:
        assert words("see https://t.co/a1?x=2&y=3.") == ["see", "https://t.co/a1?x=2&y=3", "."]
        assert words("(www.example.com)") == ["(", "www.example.com", ")"]

    def test_mentions_and_hashtags_keep_their_sign(self) -> None:
        assert words("@paulwalk loves #NewYork!") == ["@paulwalk", "loves", "#NewYork", "!"]
        assert words("a @ b") == ["a", "@", "b"]

    def test_punctuation_runs(self) -> None:
        assert words("what?!... wow!!!") == ["what", "?", "!", "...", "wow", "!!!"]

    @settings(max_examples=200, deadline=None)
    @given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
    def test_tokens_are_ordered_disjoint_non_empty_and_hold_no_space(self, text: str) -> None:
        tokens = tokenize(text)
        previous = 0
        for t in tokens:
            assert previous <= t.start < t.end <= len(text)
            assert not any(ch.isspace() for ch in text[t.start:t.end])
            previous = t.end
        covered = {i for t in tokens for i in range(t.start, t.end)}
        assert all(text[i].isspace() for i in range(len(text)) if i not in covered)


class TestBio:
    def test_tag_set(self) -> None:
        assert bio_tag_set(["per", "loc"]) == ("O", "B-per", "I-per", "B-loc", "I-loc")

    def test_spans_on_token_edges_round_trip(self) -> None:
        text = "I met Ada Lovelace in New York 😀 today"
        tokens = tokenize(text)
        spans = [Span(6, 18, "person"), Span(22, 30, "geo-loc")]
        bio = spans_to_bio(tokens, spans)
        assert bio.tags == ("O", "O", "B-person", "I-person", "O", "B-geo-loc", "I-geo-loc",
                            "O", "O")
        assert (bio.snapped, bio.dropped) == (0, 0)
        assert bio_to_spans(tokens, bio.tags) == spans

    def test_span_inside_a_token_is_snapped_outward_and_counted(self) -> None:
        tokens = tokenize("the Parisian way")
        bio = spans_to_bio(tokens, [Span(4, 9, "loc")])
        assert bio.tags == ("O", "B-loc", "O")
        assert bio.snapped == 1
        assert bio_to_spans(tokens, bio.tags) == [Span(4, 12, "loc")]

    def test_overlapping_and_space_only_spans_are_dropped_and_counted(self) -> None:
        tokens = tokenize("New York City")
        bio = spans_to_bio(tokens, [Span(0, 13, "loc"), Span(4, 8, "loc"), Span(3, 4, "x")])
        assert bio.tags == ("B-loc", "I-loc", "I-loc")
        assert bio.dropped == 2

    def test_orphan_inside_tag_starts_a_span(self) -> None:
        tokens = tokenize("a b c")
        assert bio_to_spans(tokens, ["I-x", "I-y", "I-y"]) == [Span(0, 1, "x"), Span(2, 5, "y")]

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.sampled_from(["ab", "😀", "e\u0301", ",", "@x", "http://u.v"]),
                    min_size=1, max_size=12),
           st.data())
    def test_any_non_overlapping_token_aligned_spans_round_trip(self, pieces: list[str],
                                                                data: st.DataObject) -> None:
        text = " ".join(pieces)
        tokens = tokenize(text)
        cuts = sorted(data.draw(st.sets(st.integers(0, len(tokens)), max_size=6)))
        spans = [Span(tokens[a].start, tokens[b - 1].end, data.draw(st.sampled_from("xy")))
                 for a, b in zip(cuts[::2], cuts[1::2]) if b > a]
        bio = spans_to_bio(tokens, spans)
        assert (bio.snapped, bio.dropped) == (0, 0)
        assert bio_to_spans(tokens, bio.tags) == spans
