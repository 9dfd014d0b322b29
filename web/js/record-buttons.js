// A Record and a Stop button over the microphone, as Transcribe and Echo have them.

import { Recording } from "./microphone.js";

// Record starts a recording (its level on meter); Stop ends it and hands it to
// onRecorded({ pieces, sampleRate }), after which Record may be pressed again.
export function recordButtons({ panel, record, stop, meter, onStart = () => {}, onRecorded }) {
  let recording = null;

  record.addEventListener("click", async () => {
    panel.clearError();
    onStart();
    record.disabled = true;
    try {
      recording = await Recording.start(meter);
      stop.disabled = false;
      panel.status("Recording… speak, then stop.");
    } catch (error) {
      record.disabled = false;
      panel.error(error);
    }
  });

  stop.addEventListener("click", async () => {
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
