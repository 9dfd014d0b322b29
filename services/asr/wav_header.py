"""Reading the header of an uploaded WAV file as its first bytes arrive."""

from __future__ import annotations

import struct

from services.asr.audio_input import AudioInputError, PcmFormat

_PCM, _IEEE_FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
# Far more than any real header (fmt + LIST/INFO metadata); a body whose data chunk has not
# started by then is not a WAV file this service reads.
MAX_HEADER_BYTES = 64 * 1024


def looks_like_wav(prefix: bytes) -> bool:
    return prefix[:4] == b"RIFF" and prefix[8:12] == b"WAVE"


def parse_wav_header(data: bytes) -> tuple[PcmFormat, int] | None:
    """(format, offset of the audio data) once `data` holds the whole header; None if not yet.

    Raises AudioInputError for a RIFF file that is not PCM audio this service reads.
    """
    if len(data) < 12:
        return None
    if not looks_like_wav(data):
        raise AudioInputError("the body is not a RIFF/WAVE file")
    offset, fmt = 12, None
    while len(data) >= offset + 8:
        chunk_id, size = data[offset : offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        body = offset + 8
        if chunk_id == b"data":
            if fmt is None:
                raise AudioInputError("the WAV data chunk comes before its fmt chunk")
            return fmt, body
        if chunk_id == b"fmt ":
            if size < 16:  # the fields read below; a shorter chunk is no PCM format
                raise AudioInputError(f"the WAV fmt chunk is {size} bytes; a PCM fmt chunk has at least 16")
            if len(data) < body + size:
                return None
            fmt = _read_fmt(data[body : body + size])
        offset = body + size + (size & 1)  # chunks are padded to an even size
    if len(data) > MAX_HEADER_BYTES:
        raise AudioInputError("no WAV data chunk in the first 64 KiB")
    return None


def _read_fmt(chunk: bytes) -> PcmFormat:
    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", chunk)
    if tag == _EXTENSIBLE and len(chunk) >= 26:
        tag = struct.unpack_from("<H", chunk, 24)[0]  # the sub-format GUID starts with the tag
    formats = {(_PCM, 16): "s16le", (_PCM, 32): "s32le", (_IEEE_FLOAT, 32): "float32"}
    if (tag, bits) not in formats:
        raise AudioInputError(
            f"WAV with format tag {tag} and {bits} bits per sample is not supported; "
            "send 16- or 32-bit integer PCM or 32-bit float"
        )
    return PcmFormat(sample_rate=rate, channels=channels, sample_format=formats[(tag, bits)])
