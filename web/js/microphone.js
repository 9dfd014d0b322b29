// The microphone, read block by block through an AudioWorklet at the rate the browser runs its
// audio at (usually 48 000 or 44 100 Hz; the API takes any rate up to 48 000 Hz, and WAV
// uploads say theirs in their header).

const HIGHEST_RATE = 48000;
const WORKLET = "/web/js/capture-worklet.js";

export class Microphone {
  // Opens the microphone; onSamples(Float32Array) is called for each block while it is open.
  static async open(onSamples) {
    if (!window.isSecureContext) {
      throw new Error(
        "browsers give the microphone only to secure pages: open this page over https, or on the server itself at http://localhost",
      );
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new Error("this browser gives pages no access to a microphone");
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1 } });
    } catch (error) {
      throw new Error(microphoneRefusal(error));
    }
    try {
      let context = new AudioContext();
      if (context.sampleRate > HIGHEST_RATE) {
        await context.close();
        context = new AudioContext({ sampleRate: HIGHEST_RATE });
      }
      await context.audioWorklet.addModule(WORKLET);
      const node = new AudioWorkletNode(context, "capture");
      node.port.onmessage = (event) => onSamples(event.data);
      context.createMediaStreamSource(stream).connect(node);
      // Connected to the output (the worklet writes silence) so that the browser runs it.
      node.connect(context.destination);
      return new Microphone(stream, context, node);
    } catch (error) {
      stream.getTracks().forEach((track) => track.stop());
      throw error;
    }
  }

  constructor(stream, context, node) {
    this.stream = stream;
    this.context = context;
    this.node = node;
  }

  get sampleRate() {
    return this.context.sampleRate;
  }

  async close() {
    this.node.port.onmessage = null;
    this.stream.getTracks().forEach((track) => track.stop());
    await this.context.close();
  }
}

function microphoneRefusal(error) {
  if (error.name === "NotAllowedError") {
    return "the microphone was not allowed: allow it for this page in the browser's site settings";
  }
  if (error.name === "NotFoundError") return "no microphone was found";
  return `the microphone could not be opened: ${error.message}`;
}

// The loudest sample of a block, shown on a <meter>.
export function showLevel(meter, samples) {
  let peak = 0;
  for (let i = 0; i < samples.length; i += 1) peak = Math.max(peak, Math.abs(samples[i]));
  meter.value = peak;
}

// A recording from the microphone, kept in memory until stopped.
export class Recording {
  // Opens the microphone and records; meter shows the level as it goes.
  static async start(meter) {
    const recording = new Recording(meter);
    recording.microphone = await Microphone.open((samples) => recording.add(samples));
    return recording;
  }

  constructor(meter) {
    this.meter = meter;
    this.pieces = [];
  }

  add(samples) {
    this.pieces.push(samples);
    showLevel(this.meter, samples);
  }

  // Stops recording; the samples recorded and their rate.
  async stop() {
    const sampleRate = this.microphone.sampleRate;
    await this.microphone.close();
    this.meter.value = 0;
    return { pieces: this.pieces, sampleRate };
  }
}
