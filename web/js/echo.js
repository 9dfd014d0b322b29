// Echo: a recording sent to the echo pipeline (POST /api/echo-bytes), which recognizes it and
// streams the text spoken back; the reply plays as it arrives.

import { apiFetch } from "./api.js";
import { Panel, formatMs } from "./panel.js";
import { floatToS16, joinSamples, wavBlob } from "./pcm.js";
import { StreamPlayer, playResponse } from "./player.js";
import { recordButtons } from "./record-buttons.js";

// The echo pipeline answers in the TTS service's default format.
const DEFAULT_RATE = 16000;

export function setupEcho() {
  const panel = new Panel("echo");
  const record = document.getElementById("echo-record");
  const stop = document.getElementById("echo-stop");
  const meter = document.getElementById("echo-level");
  const heard = document.getElementById("echo-text");
  const player = new StreamPlayer(meter);
  recordButtons({
    panel,
    record,
    stop,
    meter,
    onStart: () => {
      player.stop();
      heard.textContent = "";
    },
    onRecorded: async ({ pieces, sampleRate }) => {
      panel.status("Recognizing…");
      const sent = performance.now();
      try {
        const response = await apiFetch("/api/echo-bytes", {
          method: "POST",
          headers: { "Content-Type": "audio/wav" },
          body: wavBlob([floatToS16(joinSamples(pieces))], sampleRate),
        });
        heard.textContent = decodeURIComponent(response.headers.get("X-Recognized-Text") || "");
        await player.begin(Number(response.headers.get("X-Sample-Rate")) || DEFAULT_RATE);
        await playResponse(response, player, () => {
          panel.status(`The answer began ${formatMs(performance.now() - sent)} after the recording was sent.`);
        });
        await player.played();
      } catch (error) {
        panel.status("");
        panel.error(error);
      }
    },
  });
}
