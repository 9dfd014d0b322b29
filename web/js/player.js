// Playback of audio as it streams in: each piece of PCM the server sends is scheduled on the
// Web Audio clock right after the piece before, so sound starts with the first piece.

import { s16ToFloat } from "./pcm.js";

// How far ahead of the clock a piece is scheduled when playback starts or has run dry.
const LEAD_SECONDS = 0.05;

// One output context for the page: browsers limit how many may be open, and each must be
// resumed after a click before it plays.
let outputContext = null;

export async function output() {
  outputContext = outputContext || new AudioContext();
  if (outputContext.state !== "running") await outputContext.resume();
  return outputContext;
}

export class StreamPlayer {
  // meter: a <meter> showing the output level while playing.
  constructor(meter) {
    this.meter = meter;
    this.sources = new Set();
    this.watching = false;
  }

  // Prepares for a stream of signed 16-bit little-endian mono PCM at sampleRate.
  async begin(sampleRate) {
    this.stop();
    this.context = await output();
    this.sampleRate = sampleRate;
    this.carry = new Uint8Array(0);
    this.nextTime = 0;
    this.samples = 0;
    this.peak = 0;
    this.analyser = this.context.createAnalyser();
    this.analyser.connect(this.context.destination);
    this.watching = true;
    this.watchLevel();
  }

  // Schedules the whole samples of a piece of the stream (an odd byte waits for the next piece).
  push(bytes) {
    let data = bytes;
    if (this.carry.length) {
      data = new Uint8Array(this.carry.length + bytes.length);
      data.set(this.carry);
      data.set(bytes, this.carry.length);
    }
    const whole = data.length - (data.length % 2);
    this.carry = data.slice(whole);
    if (!whole) return;
    const samples = s16ToFloat(data.subarray(0, whole));
    const buffer = this.context.createBuffer(1, samples.length, this.sampleRate);
    buffer.copyToChannel(samples, 0);
    const source = this.context.createBufferSource();
    source.buffer = buffer;
    source.connect(this.analyser);
    const startAt = Math.max(this.nextTime, this.context.currentTime + LEAD_SECONDS);
    source.start(startAt);
    source.onended = () => this.sources.delete(source);
    this.sources.add(source);
    this.nextTime = startAt + buffer.duration;
    this.samples += samples.length;
  }

  // Seconds of audio received so far.
  get seconds() {
    return this.sampleRate ? this.samples / this.sampleRate : 0;
  }

  // Resolves when everything pushed has been played.
  async played() {
    const left = Math.max(0, this.nextTime - this.context.currentTime);
    await new Promise((resolve) => setTimeout(resolve, left * 1000 + 100));
    this.watching = false;
    this.meter.value = 0;
  }

  stop() {
    for (const source of this.sources) source.stop();
    this.sources.clear();
    this.watching = false;
    this.meter.value = 0;
  }

  watchLevel() {
    const block = new Float32Array(this.analyser.fftSize);
    const frame = () => {
      if (!this.watching) return;
      this.analyser.getFloatTimeDomainData(block);
      let level = 0;
      for (const sample of block) level = Math.max(level, Math.abs(sample));
      this.meter.value = level;
      this.peak = Math.max(this.peak, level);
      // The loudest level played, for whoever checks that sound came out (the page's tests).
      this.meter.dataset.peak = this.peak.toFixed(3);
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  }
}

// Plays seconds [start, end) of an AudioBuffer (a word of a transcript).
export async function playSpan(buffer, start, end) {
  const context = await output();
  const source = context.createBufferSource();
  source.buffer = buffer;
  source.connect(context.destination);
  source.start(0, start, Math.max(0.05, end - start));
}

// Float samples at sampleRate as an AudioBuffer.
export function audioBufferOf(samples, sampleRate) {
  const buffer = new AudioBuffer({ length: Math.max(1, samples.length), numberOfChannels: 1, sampleRate });
  buffer.copyToChannel(samples, 0);
  return buffer;
}

// Reads a streamed PCM response into a player; calls onFirst() when the first bytes arrive.
// Returns the pieces received, for a download.
export async function playResponse(response, player, onFirst) {
  const reader = response.body.getReader();
  const pieces = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return pieces;
    if (!value.length) continue;
    if (!pieces.length) onFirst();
    pieces.push(value);
    player.push(value);
  }
}
