"""Text normalization and segmentation (unit)."""

import pytest

from services.tts.text.normalize import has_speakable_content, normalize_text
from services.tts.text.segment import cut_first_clause, split_into_pieces, split_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It costs $5 on 3 May.", "It costs five dollars on the third of May."),
        ("A $1 coin and $2.50 change.", "A one dollar coin and two dollars and fifty cents change."),
        (
            "We raised $1,250,000 in 2024.",
            "We raised one million two hundred and fifty thousand dollars in twenty twenty-four.",
        ),
        ("Half, i.e. 50%, was lost.", "Half, that is fifty percent, was lost."),
        ("Meet Dr. Smith at 10:30 on May 21st.", "Meet Doctor Smith at ten thirty on May twenty-first."),
        ("The 1st and 22nd runners", "The first and twenty-second runners"),
        ("It was -5 degrees, pi is 3.14", "It was minus five degrees, pi is three point one four"),
        ("Salt & pepper @ home", "Salt and pepper at home"),
        ("Back in the 1990s.", "Back in the nineteen nineties."),
        ("Wake me at 7:05 pm", "Wake me at seven oh five p m"),
        (
            "Card 1234567890123456 ends",
            "Card one two three four five six seven eight nine zero one two three four five six ends",
        ),
        (
            "The 12345678901234567890th try",
            "The " + "one two three four five six seven eight nine zero " * 2 + "try",
        ),
    ],
)
def test_numbers_symbols_and_abbreviations_are_written_out(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


def test_unspeakable_characters_are_dropped_and_the_rest_kept() -> None:
    assert normalize_text("Hello 世界, naïve café ☃ ok\x00") == "Hello, naïve café ok"


def test_text_with_only_unspeakable_characters_has_nothing_to_say() -> None:
    assert not has_speakable_content(normalize_text("☃ 世界 🙂"))
    assert has_speakable_content(normalize_text("7"))


def test_sentences_split_at_terminators_but_not_at_initials_or_lowercase_continuations() -> None:
    text = 'J. R. R. Tolkien wrote it. "Really?" she asked. The U.S.A. is big! Is it? Yes.'
    assert split_sentences(text) == [
        "J. R. R. Tolkien wrote it.",
        '"Really?" she asked.',
        "The U.S.A. is big!",
        "Is it?",
        "Yes.",
    ]


def test_long_sentences_are_cut_at_clause_boundaries_within_the_limit() -> None:
    clause = "this clause has exactly eight words in it"
    sentence = ", ".join([clause] * 10) + "."
    pieces = split_into_pieces(sentence, max_chars=100)
    assert all(len(piece) <= 100 for piece in pieces)
    assert " ".join(pieces) == sentence
    assert all(piece.endswith((",", ".")) for piece in pieces)


def test_a_sentence_without_clause_boundaries_is_cut_between_words() -> None:
    sentence = " ".join(["word"] * 100) + "."
    pieces = split_into_pieces(sentence, max_chars=50)
    assert all(len(piece) <= 50 for piece in pieces)
    assert " ".join(pieces) == sentence


def test_pieces_are_sentences() -> None:
    assert split_into_pieces("Hello world, this is a test. Second one, unchanged.") == [
        "Hello world, this is a test.",
        "Second one, unchanged.",
    ]


def test_a_word_longer_than_a_piece_is_cut() -> None:
    pieces = split_into_pieces("a" * 450, max_chars=200)
    assert [len(piece) for piece in pieces] == [200, 200, 50]


def test_huge_numbers_do_not_break_normalization() -> None:
    assert normalize_text("1" * 4999).split() == ["one"] * 4999
    assert "dollars" in normalize_text("$" + "9" * 100)


def test_no_piece_is_empty() -> None:
    assert split_into_pieces("  ...  ") == ["..."]
    assert split_into_pieces("") == []


def test_the_first_piece_is_cut_after_its_first_clause_only() -> None:
    pieces = ["Hello world, this is a test; it has clauses.", "Second sentence, untouched."]
    assert cut_first_clause(pieces) == [
        "Hello world,",
        "this is a test; it has clauses.",
        "Second sentence, untouched.",
    ]
    assert cut_first_clause(["No clause here."]) == ["No clause here."]
    assert cut_first_clause([]) == []
