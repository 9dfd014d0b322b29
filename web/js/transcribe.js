// Transcribe: a recording or a file to text with word times (POST /api/stt/bytes); each word
// plays its span of the audio when clicked.

import { apiFetch } from "./api.js";
import { Panel, formatMs, formatSeconds } from "./panel.js";
import { floatToS16, joinSamples, wavBlob } from "./pcm.js";
import { audioBufferOf, output, playSpan } from "./player.js";
import { recordButtons } from "./record-buttons.js";

// Types the ASR service recognizes from a file's name when the browser gives none.
const TYPES_BY_EXTENSION = {
  wav: "audio/wav",
  mp3: "audio/mpeg",
  ogg: "audio/ogg",
  opus: "audio/ogg",
  oga: "audio/ogg",
  webm: "audio/webm",
  flac: "audio/flac",
  m4a: "audio/mp4",
  mp4: "audio/mp4",
  aac: "audio/aac",
};

export function setupTranscribe() {
  const panel = new Panel("transcribe");
  const record = document.getElementById("transcribe-record");
  const stop = document.getElementById("transcribe-stop");
  const file = document.getElementById("transcribe-file");
  const meter = document.getElementById("transcribe-level");
  const text = document.getElementById("transcribe-text");
  const words = document.getElementById("transcribe-words");
  recordButtons({
    panel,
    record,
    stop,
    meter,
    onRecorded: async ({ pieces, sampleRate }) => {
      const samples = joinSamples(pieces);
      await transcribe(wavBlob([floatToS16(samples)], sampleRate), audioBufferOf(samples, sampleRate));
    },
  });

  file.addEventListener("change", async () => {
    const chosen = file.files[0];
    file.value = "";
    if (!chosen) return;
    panel.clearError();
    const type = chosen.type || TYPES_BY_EXTENSION[chosen.name.split(".").pop().toLowerCase()];
    const upload = type ? new Blob([chosen], { type }) : chosen;
    await transcribe(upload, await decoded(chosen));
  });

  // Sends audio to the ASR service and shows the words; audio (an AudioBuffer, or null when the
  // browser cannot decode it) is what clicking a word plays from.
  async function transcribe(upload, audio) {
    text.textContent = "";
    words.replaceChildren();
    panel.status("Transcribing…");
    const sent = performance.now();
    try {
      const response = await apiFetch("/api/stt/bytes", {
        method: "POST",
        headers: { "Content-Type": upload.type || "application/octet-stream" },
        body: upload,
      });
      const result = await response.json();
      const took = performance.now() - sent;
      text.textContent = result.text || "(no speech heard)";
      words.replaceChildren(...result.segments.map((word) => wordButton(word, audio)));
      panel.status(`${formatSeconds(result.duration_seconds)} of audio, transcribed in ${formatMs(took)}.`);
    } catch (error) {
      panel.status("");
      panel.error(error);
    }
  }
}

function wordButton(word, audio) {
  const start = word.start_ms / 1000;
  const end = word.end_ms / 1000;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "word";
  button.title = `${formatSeconds(start)} – ${formatSeconds(end)}`;
  const label = document.createElement("span");
  label.textContent = word.text;
  const time = document.createElement("small");
  time.textContent = start.toFixed(2);
  button.append(label, time);
  button.disabled = !audio;
  button.addEventListener("click", () => playSpan(audio, start, end));
  return button;
}

// The file decoded by the browser, to play words from; null when it cannot decode it (the
// server may still: its transcript is shown either way).
async function decoded(file) {
  try {
    const context = await output();
    return await context.decodeAudioData(await file.arrayBuffer());
  } catch {
    return null;
  }
}
