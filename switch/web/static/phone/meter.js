// What the far end of a browser call sends, measured in the page: the level (RMS) and
// the strongest frequency, from a WebAudio analyser on the incoming stream. The phone
// page and the agent desk show the level; the tests read both.

export class Meter {
  constructor() {
    this.context = null;
    this.analyser = null;
  }

  /** Start measuring `stream` (the <audio> element's srcObject); false without one. */
  listen(stream) {
    if (!stream) return false;
    this.context ??= new AudioContext();
    this.context.resume();
    this.analyser = this.context.createAnalyser();
    this.analyser.fftSize = 4096;
    this.context.createMediaStreamSource(stream).connect(this.analyser);
    return true;
  }

  stop() {
    this.analyser = null;
  }

  /** RMS of what the far end sends now, 0..1. */
  level() {
    if (!this.analyser) return 0;
    const data = new Float32Array(this.analyser.fftSize);
    this.analyser.getFloatTimeDomainData(data);
    return Math.sqrt(data.reduce((sum, x) => sum + x * x, 0) / data.length);
  }

  /** The strongest frequency (Hz) in what the far end sends now, or null in silence. */
  peakFrequency() {
    if (!this.analyser || this.level() < 0.001) return null;
    const bins = new Float32Array(this.analyser.frequencyBinCount);
    this.analyser.getFloatFrequencyData(bins);
    let best = 1;
    for (let i = 2; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
    return (best * this.context.sampleRate) / this.analyser.fftSize;
  }
}
