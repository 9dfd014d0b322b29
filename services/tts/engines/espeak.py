"""espeak-ng phonemes for Piper voices, grouped by sentence as Piper groups them.

piper-tts's `espeakbridge.get_phonemes` keeps every clause it phonemizes: it appends each
clause's tuple to the list it returns without releasing its own reference to the tuple, so
each clause stays in memory for good (about 200 bytes: a server leaks without bound). The same
library exports espeak-ng's own functions, so the clause loop runs here through ctypes, on
piper-tts's espeak-ng (its build, its data, its process-global voice), and the clauses are
joined as `piper.phonemize_espeak.EspeakPhonemizer.phonemize` joins them.
"""

from __future__ import annotations

import ctypes
import re
import threading
import unicodedata

from piper import espeakbridge
from piper.phonemize_espeak import ESPEAK_DATA_DIR

# espeak-ng's clause flags (its translate.h), in the terminator a clause ends with.
_CLAUSE_INTONATION_COMMA = 0x00001000
_CLAUSE_INTONATION_QUESTION = 0x00002000
_CLAUSE_INTONATION_EXCLAMATION = 0x00003000
_CLAUSE_TYPE_CLAUSE = 0x00040000
_CLAUSE_TYPE_SENTENCE = 0x00080000
_TERMINATORS = {
    40 | _CLAUSE_TYPE_SENTENCE: ".",
    40 | _CLAUSE_INTONATION_QUESTION | _CLAUSE_TYPE_SENTENCE: "?",
    45 | _CLAUSE_INTONATION_EXCLAMATION | _CLAUSE_TYPE_SENTENCE: "!",
    20 | _CLAUSE_INTONATION_COMMA | _CLAUSE_TYPE_CLAUSE: ",",
    30 | _CLAUSE_TYPE_CLAUSE: ":",
    30 | _CLAUSE_INTONATION_COMMA | _CLAUSE_TYPE_CLAUSE: ";",
}
_ESPEAK_CHARS_AUTO = 0
_ESPEAK_PHONEMES_IPA = 0x02
# espeak marks words it reads in another language: "(en)word(fr)".
_LANGUAGE_SWITCH = re.compile(r"\([^)]+\)")


class EspeakPhonemizer:
    """espeak-ng in this process: one voice at a time, so one caller at a time."""

    def __init__(self) -> None:
        espeakbridge.initialize(str(ESPEAK_DATA_DIR))
        library = ctypes.CDLL(espeakbridge.__file__)
        self._text_to_phonemes = library.espeak_TextToPhonemesWithTerminator
        self._text_to_phonemes.restype = ctypes.c_char_p
        self._text_to_phonemes.argtypes = [
            ctypes.POINTER(ctypes.c_void_p),
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_int),
        ]
        self._lock = threading.Lock()

    def sentences(self, voice: str, text: str) -> list[list[str]]:
        """The phonemes of `text`, one list per sentence (each phoneme one code point)."""
        with self._lock:
            espeakbridge.set_voice(voice)
            clauses = self._clauses(text)
        sentences: list[list[str]] = []
        sentence: list[str] = []
        for phonemes, terminator, ends_sentence in clauses:
            phonemes = _LANGUAGE_SWITCH.sub("", phonemes) + terminator
            if terminator in (",", ":", ";"):
                phonemes += " "
            sentence.extend(unicodedata.normalize("NFD", phonemes))
            if ends_sentence:
                sentences.append(sentence)
                sentence = []
        if sentence:
            sentences.append(sentence)
        return sentences

    def _clauses(self, text: str) -> list[tuple[str, str, bool]]:
        """(phonemes, terminator, whether it ends a sentence) of each clause of `text`."""
        buffer = ctypes.create_string_buffer(text.encode("utf-8"))
        position = ctypes.c_void_p(ctypes.addressof(buffer))  # espeak moves it on, to NULL at the end
        flags = ctypes.c_int(0)
        clauses = []
        while position.value is not None:
            flags.value = 0
            phonemes = self._text_to_phonemes(
                ctypes.byref(position), _ESPEAK_CHARS_AUTO, _ESPEAK_PHONEMES_IPA, ctypes.byref(flags)
            )
            terminator = flags.value & 0x000FFFFF
            clauses.append(
                (
                    (phonemes or b"").decode("utf-8"),
                    _TERMINATORS.get(terminator, ""),
                    terminator & _CLAUSE_TYPE_SENTENCE == _CLAUSE_TYPE_SENTENCE,
                )
            )
        return clauses
