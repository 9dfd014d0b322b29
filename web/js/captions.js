// Live captions: the microphone streamed to live recognition (WebSocket /api/stt/ws, vosk-server's
// protocol). The open utterance's partial text grows in place; each finished one becomes a line.

import { keySubprotocols, webSocketUrl } from "./api.js";
import { Microphone, showLevel } from "./microphone.js";
import { Panel } from "./panel.js";
import { floatToS16, joinSamples } from "./pcm.js";

// Audio goes out in frames of this length: the service answers each with a partial.
const FRAME_SECONDS = 0.1;
const NORMAL_CLOSURE = 1000;

export function setupCaptions() {
  const panel = new Panel("captions");
  const start = document.getElementById("captions-start");
  const stop = document.getElementById("captions-stop");
  const meter = document.getElementById("captions-level");
  const lines = document.getElementById("captions-lines");
  const partial = document.getElementById("captions-partial");
  let session = null;

  start.addEventListener("click", async () => {
    panel.clearError();
    start.disabled = true;
    try {
      session = await CaptionSession.open({ meter, onMessage: show, onEnd: ended });
      stop.disabled = false;
      panel.status("Listening… speak.");
    } catch (error) {
      start.disabled = false;
      panel.error(error);
    }
  });

  stop.addEventListener("click", () => {
    stop.disabled = true;
    panel.status("Finishing…");
    session.finish();
  });

  function show(message) {
    if (message.error) {
      panel.error(new Error(message.error.message));
    } else if (message.partial !== undefined) {
      partial.textContent = message.partial;
    } else if (message.text !== undefined) {
      partial.textContent = "";
      if (message.text) {
        const line = document.createElement("p");
        line.className = "final";
        line.textContent = message.text;
        lines.insertBefore(line, partial);
        lines.scrollTop = lines.scrollHeight;
      }
    }
  }

  function ended(event) {
    session = null;
    start.disabled = false;
    stop.disabled = true;
    meter.value = 0;
    if (event.code === NORMAL_CLOSURE) panel.status("Stopped.");
    else {
      panel.status("");
      if (panel.errorLine.hidden) {
        panel.error(new Error(`live recognition closed the connection (${event.code}) ${event.reason}`.trim()));
      }
    }
  }
}

class CaptionSession {
  // Opens the microphone and the WebSocket; audio flows once both are open.
  static async open({ meter, onMessage, onEnd }) {
    const session = new CaptionSession(meter);
    session.microphone = await Microphone.open((samples) => session.send(samples));
    try {
      session.socket = await connect(webSocketUrl("/api/stt/ws"));
    } catch (error) {
      await session.microphone.close();
      throw error;
    }
    session.frameSamples = Math.round(session.microphone.sampleRate * FRAME_SECONDS);
    session.socket.send(JSON.stringify({ config: { sample_rate: session.microphone.sampleRate, words: 1 } }));
    session.socket.addEventListener("message", (event) => onMessage(JSON.parse(event.data)));
    session.socket.addEventListener("close", async (event) => {
      await session.release();
      onEnd(event);
    });
    return session;
  }

  constructor(meter) {
    this.meter = meter;
    this.pending = [];
    this.pendingSamples = 0;
  }

  // Sends the microphone's blocks in frames of FRAME_SECONDS.
  send(samples) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return;
    showLevel(this.meter, samples);
    this.pending.push(samples);
    this.pendingSamples += samples.length;
    if (this.pendingSamples < this.frameSamples) return;
    this.socket.send(floatToS16(joinSamples(this.pending)));
    this.pending = [];
    this.pendingSamples = 0;
  }

  // Stops the microphone, sends what is left of its audio and asks for the final result; the
  // service then closes the connection.
  async finish() {
    await this.release();
    if (this.socket.readyState !== WebSocket.OPEN) return;
    if (this.pendingSamples) this.socket.send(floatToS16(joinSamples(this.pending)));
    this.pending = [];
    this.pendingSamples = 0;
    this.socket.send(JSON.stringify({ eof: 1 }));
  }

  async release() {
    if (!this.microphone) return;
    const microphone = this.microphone;
    this.microphone = null;
    await microphone.close();
  }
}

// A WebSocket once it is open; rejects when it cannot be opened.
function connect(url) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, keySubprotocols());
    socket.binaryType = "arraybuffer";
    socket.addEventListener("open", () => resolve(socket), { once: true });
    socket.addEventListener("error", () => reject(new Error("live recognition could not be reached")), {
      once: true,
    });
  });
}
