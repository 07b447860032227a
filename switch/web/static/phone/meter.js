// What the far end of a call sends, measured in the browser (WebAudio): its level and its
// strongest frequency. The phone page shows the level; tests read both.
//
//   const meter = new AudioMeter();
//   meter.listen(audioElement.srcObject);  meter.level();  meter.peakFrequency();
//   meter.stop();

export class AudioMeter {
  constructor() {
    this.context = null;
    this.analyser = null;
  }

  /** Start measuring a MediaStream (the far end's audio). */
  listen(stream) {
    if (!stream) return;
    this.context ??= new AudioContext();
    this.context.resume();
    this.analyser = this.context.createAnalyser();
    this.analyser.fftSize = 4096;
    this.context.createMediaStreamSource(stream).connect(this.analyser);
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
