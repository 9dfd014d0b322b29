// Speak: text to speech, played while it streams in (POST /api/tts), then offered as a WAV.

import { apiFetch } from "./api.js";
import { Panel, formatMs, formatSeconds } from "./panel.js";
import { wavBlob } from "./pcm.js";
import { StreamPlayer, playResponse } from "./player.js";

// The rates /api/tts can answer at; a voice is played at its own when it is one of them.
const TTS_RATES = [8000, 16000, 22050, 24000, 44100, 48000];
const FALLBACK_RATE = 24000;

export function setupSpeak() {
  const panel = new Panel("speak");
  const form = document.getElementById("speak-form");
  const text = document.getElementById("speak-text");
  const voice = document.getElementById("speak-voice");
  const speed = document.getElementById("speak-speed");
  const speedValue = document.getElementById("speak-speed-value");
  const start = document.getElementById("speak-start");
  const stop = document.getElementById("speak-stop");
  const download = document.getElementById("speak-download");
  const player = new StreamPlayer(document.getElementById("speak-level"));
  let voices = [];
  let request = null;

  speed.addEventListener("input", () => {
    speedValue.textContent = `${Number(speed.value).toFixed(2)}×`;
  });

  loadVoices(voice, panel).then((list) => {
    voices = list;
  });

  stop.addEventListener("click", () => {
    if (request) request.abort();
    player.stop();
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    panel.clearError();
    download.hidden = true;
    if (download.href) URL.revokeObjectURL(download.href);
    const chosen = voices.find((entry) => entry.id === voice.value);
    const rate = chosen && TTS_RATES.includes(chosen.native_sample_rate) ? chosen.native_sample_rate : FALLBACK_RATE;
    const body = { text: text.value, speed: Number(speed.value), sample_rate: rate };
    if (voice.value) body.voice = voice.value;
    request = new AbortController();
    start.disabled = true;
    stop.disabled = false;
    panel.status("Asking for speech…");
    const asked = performance.now();
    let firstAudioMs = null;
    try {
      const response = await apiFetch("/api/tts", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
        signal: request.signal,
      });
      const sampleRate = Number(response.headers.get("X-Sample-Rate")) || rate;
      await player.begin(sampleRate);
      const pieces = await playResponse(response, player, () => {
        firstAudioMs = performance.now() - asked;
        panel.status(`First audio after ${formatMs(firstAudioMs)}; playing…`);
      });
      const allMs = performance.now() - asked;
      panel.status(
        `First audio after ${formatMs(firstAudioMs)}, all of it after ${formatMs(allMs)}; ` +
          `${formatSeconds(player.seconds)} of audio.`,
      );
      download.href = URL.createObjectURL(wavBlob(pieces, sampleRate));
      download.hidden = false;
      await player.played();
    } catch (error) {
      if (error.name === "AbortError") panel.status("Stopped.");
      else {
        panel.status("");
        panel.error(error);
      }
    } finally {
      request = null;
      start.disabled = false;
      stop.disabled = true;
    }
  });
}

async function loadVoices(select, panel) {
  try {
    const answer = await (await apiFetch("/api/voices")).json();
    for (const entry of answer.voices) {
      const option = new Option(`${entry.id} (${entry.language})`, entry.id);
      option.selected = entry.id === answer.default;
      select.add(option);
    }
    return answer.voices;
  } catch (error) {
    panel.error(error);
    return [];
  }
}
