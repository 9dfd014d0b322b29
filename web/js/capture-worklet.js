// Runs on the audio thread: hands every block of microphone samples (the first channel) to the
// page, which records them or streams them on.
class CaptureProcessor extends AudioWorkletProcessor {
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) this.port.postMessage(channel.slice());
    return true;
  }
}

registerProcessor("capture", CaptureProcessor);
