// A Record and a Stop button over the microphone, as Transcribe and Echo have them.

import { maxAudioSeconds } from "./api.js";
import { Recording } from "./microphone.js";

// A recording stops this far short of the service's limit, so that it is surely under it.
const LIMIT_MARGIN_SECONDS = 0.25;

// Record starts a recording (its level on meter); Stop ends it, as does reaching the longest
// audio the ASR service takes, and hands it to onRecorded({ pieces, sampleRate }), after which
// Record may be pressed again.
export function recordButtons({ panel, record, stop, meter, onStart = () => {}, onRecorded }) {
  let recording = null;
  let limitTimer = null;

  record.addEventListener("click", async () => {
    panel.clearError();
    onStart();
    record.disabled = true;
    try {
      const limit = await maxAudioSeconds();
      recording = await Recording.start(meter);
      stop.disabled = false;
      if (limit) {
        limitTimer = setTimeout(() => stop.click(), (limit - LIMIT_MARGIN_SECONDS) * 1000);
        panel.status(`Recording… speak, then stop (at most ${limit} s).`);
      } else {
        panel.status("Recording… speak, then stop.");
      }
    } catch (error) {
      record.disabled = false;
      panel.error(error);
    }
  });

  stop.addEventListener("click", async () => {
    clearTimeout(limitTimer);
    stop.disabled = true;
    const recorded = await recording.stop();
    recording = null;
    try {
      await onRecorded(recorded);
    } finally {
      record.disabled = false;
    }
  });
}
