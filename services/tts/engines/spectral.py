"""Inverse STFT in numpy: the last stage of voices whose graph ends in a complex spectrum.

ONNX has no complex tensors, so such a voice's exported graph stops at the real and imaginary
parts of the spectrum, and this stage turns them into audio exactly as `torch.istft` does
(Hann-style window, overlap-add normalized by the summed squared window, `center` trimming).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class InverseStft:
    n_fft: int
    hop_length: int
    window: np.ndarray  # [n_fft]
    center: bool = True
    complex_gain: np.ndarray | None = None  # [n_fft // 2 + 1], applied per frequency bin

    def __call__(self, real: np.ndarray, imag: np.ndarray) -> np.ndarray:
        """Audio from a spectrum given as real and imaginary parts, [bins, frames] each."""
        spectrum = real.astype(np.complex64) + 1j * imag.astype(np.float32)
        if self.complex_gain is not None:
            spectrum = spectrum * self.complex_gain[:, None]
        frames = np.fft.irfft(spectrum, n=self.n_fft, axis=0) * self.window[:, None]
        count = frames.shape[1]
        length = self.n_fft + self.hop_length * (count - 1)
        audio = np.zeros(length, dtype=np.float64)
        envelope = np.zeros(length, dtype=np.float64)
        squared_window = self.window.astype(np.float64) ** 2
        for index in range(count):
            start = index * self.hop_length
            audio[start : start + self.n_fft] += frames[:, index]
            envelope[start : start + self.n_fft] += squared_window
        audio /= np.where(envelope > 1e-11, envelope, 1.0)
        if self.center:
            audio = audio[self.n_fft // 2 : length - self.n_fft // 2]
        return audio.astype(np.float32)
