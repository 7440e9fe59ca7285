// The viewer: frames fetched uncompressed over WADO-RS and windowed in the browser as the server
// renders them (modality LUT, VOI window, MONOCHROME1 inverted, colour as RGB), on a canvas with
// window/level by drag, series scrolling by wheel and keys, cine, zoom and pan.
import { number, text, values } from "./api.js";

const EXPLICIT_LE = "1.2.840.10008.1.2.1";
const FRAME_ACCEPT = `multipart/related; type="application/octet-stream"; transfer-syntax=${EXPLICIT_LE}`;

/// The first part of a multipart/related body.
function firstPart(buffer, contentType) {
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  const bytes = new Uint8Array(buffer);
  if (!boundary) return bytes;
  const find = (needle, from) => {
    outer: for (let i = from; i <= bytes.length - needle.length; i++) {
      for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
      return i;
    }
    return -1;
  };
  const encoder = new TextEncoder();
  const start = find(encoder.encode(`--${boundary}`), 0);
  const headersEnd = find(encoder.encode("\r\n\r\n"), start);
  const end = find(encoder.encode(`\r\n--${boundary}`), headersEnd + 4);
  return bytes.subarray(headersEnd + 4, end < 0 ? bytes.length : end);
}

/// The stored values of a grey frame as a typed array over its bytes (copied once if unaligned),
/// with bits above Bits Stored masked off and sign-extended.
function storedValues(raw, pixels, bits, stored, signed) {
  const aligned = raw.byteOffset % (bits / 8) === 0 ? raw : raw.slice();
  const { buffer, byteOffset } = aligned;
  if (bits === 8) return signed ? new Int8Array(buffer, byteOffset, pixels) : new Uint8Array(buffer, byteOffset, pixels);
  if (bits === 32) return signed ? new Int32Array(buffer, byteOffset, pixels) : new Uint32Array(buffer, byteOffset, pixels);
  const words = new Uint16Array(buffer, byteOffset, pixels);
  if (stored >= 16) return signed ? new Int16Array(buffer, byteOffset, pixels) : words;
  const values = new Int32Array(pixels), mask = (1 << stored) - 1, sign = 1 << (stored - 1), span = 1 << stored;
  for (let p = 0; p < pixels; p++) {
    const v = words[p] & mask;
    values[p] = signed && v & sign ? v - span : v;
  }
  return values;
}

/// A frame ready to paint: grey frames keep their stored values (the modality LUT is applied through
/// the lookup table `paint` builds), colour frames become RGBA once.
export function decode(raw, item) {
  const rows = number(item, "Rows"), columns = number(item, "Columns");
  const samples = number(item, "SamplesPerPixel", 1);
  const bits = number(item, "BitsAllocated", 16);
  const signed = number(item, "PixelRepresentation", 0) === 1;
  const photometric = text(item, "PhotometricInterpretation") || "MONOCHROME2";
  const pixels = rows * columns;
  if (samples === 3) {
    const rgba = new Uint8ClampedArray(pixels * 4);
    const planar = number(item, "PlanarConfiguration", 0) === 1;
    const ybr = photometric === "YBR_FULL";
    for (let p = 0, q = 0; p < pixels; p++, q += 4) {
      let r = planar ? raw[p] : raw[p * 3], g = planar ? raw[pixels + p] : raw[p * 3 + 1], b = planar ? raw[2 * pixels + p] : raw[p * 3 + 2];
      if (ybr) [r, g, b] = [r + 1.402 * (b - 128), r - 0.344136 * (g - 128) - 0.714136 * (b - 128), r + 1.772 * (g - 128)];
      rgba[q] = r; rgba[q + 1] = g; rgba[q + 2] = b; rgba[q + 3] = 255;
    }
    return { rows, columns, rgba };
  }
  const values = storedValues(raw, pixels, bits, number(item, "BitsStored", bits), signed);
  let low = Infinity, high = -Infinity;
  for (let p = 0; p < pixels; p++) {
    const v = values[p];
    if (v < low) low = v;
    if (v > high) high = v;
  }
  const slope = number(item, "RescaleSlope", 1), intercept = number(item, "RescaleIntercept", 0);
  const [min, max] = [low * slope + intercept, high * slope + intercept].sort((a, b) => a - b);
  return { rows, columns, values, low, high, slope, intercept, min, max, inverted: photometric === "MONOCHROME1" };
}

/// The image's own window: the first Window Center/Width, else its value range.
export function defaultWindow(item, frame) {
  const center = number(item, "WindowCenter"), width = number(item, "WindowWidth");
  if (center !== undefined && width !== undefined && width > 0) return { center, width };
  if (frame.values) return { center: (frame.max + frame.min) / 2, width: Math.max(1, frame.max - frame.min) };
  return { center: 128, width: 256 };
}

/// RGBA for a canvas: the modality LUT, the DICOM linear VOI function (PS3.3 C.11.2.1.2.1), then
/// MONOCHROME1 inversion, as one lookup table over the frame's stored values (one read and one write
/// a pixel, whatever the window).
export function paint(frame, window, target) {
  if (frame.rgba) {
    target.data.set(frame.rgba);
    return target;
  }
  const c = window.center - 0.5, w = window.width - 1;
  const low = c - w / 2, high = c + w / 2;
  const grey = (stored) => {
    const v = stored * frame.slope + frame.intercept;
    const g = v <= low ? 0 : v > high ? 255 : Math.round(((v - c) / w + 0.5) * 255);
    return frame.inverted ? 255 - g : g;
  };
  // Pixels as little-endian 32-bit RGBA words: alpha 255, the grey three times.
  const out = new Uint32Array(target.data.buffer);
  const { values } = frame, count = values.length;
  if (frame.high - frame.low <= 1 << 20) {
    const table = new Uint32Array(frame.high - frame.low + 1), base = frame.low;
    for (let i = 0; i < table.length; i++) table[i] = 0xff000000 | (grey(base + i) * 0x010101);
    for (let p = 0; p < count; p++) out[p] = table[values[p] - base];
  } else {
    for (let p = 0; p < count; p++) out[p] = 0xff000000 | (grey(values[p]) * 0x010101);
  }
  return target;
}

export class Viewer {
  constructor(canvas, { onChange, onError } = {}) {
    this.canvas = canvas;
    this.context = canvas.getContext("2d");
    this.onChange = onChange ?? (() => {});
    this.onError = onError ?? (() => {});
    this.images = [];     // [{url, item, frame}] in display order
    this.index = 0;
    this.cache = new Map();  // frame URL -> Promise of the decoded frame
    this.bytes = new Map();  // frame URL -> Promise of its bytes
    this.window = null;
    this.preset = null;
    this.zoom = 1;
    this.pan = { x: 0, y: 0 };
    this.cine = null;
    this.listen();
  }

  /// The frames of a series (every frame of every instance, in instance-number order), showing `start`.
  /// When that is the image already shown (the series' list arriving after its first image), the
  /// window, zoom and pan stay.
  setSeries(images, start = 0) {
    const urls = new Set(images.map((image) => image.url));
    for (const url of this.bytes.keys()) if (!urls.has(url)) this.bytes.delete(url);
    for (const url of this.cache.keys()) if (!urls.has(url)) this.cache.delete(url);
    const same = this.frame && this.images[this.index]?.url === images[start]?.url;
    this.images = images;
    this.index = start;
    if (!same) {
      this.window = null;
      this.reset();
    }
    return this.show(start);
  }

  /// Starts fetching a frame's stored values, before its metadata is known (the first image).
  prefetch(url) {
    this.raw(url);
  }

  raw(url) {
    if (!this.bytes.has(url)) {
      const request = fetch(url, { headers: { Accept: FRAME_ACCEPT }, credentials: "same-origin" }).then(async (response) => {
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        return firstPart(await response.arrayBuffer(), response.headers.get("Content-Type") ?? "");
      });
      request.catch(() => this.bytes.delete(url));  // asked again next time
      this.bytes.set(url, request);
    }
    return this.bytes.get(url);
  }

  load(index) {
    const { url, item } = this.images[index];
    if (!this.cache.has(url)) {
      const decoded = this.raw(url).then((raw) => decode(raw, item));
      decoded.catch(() => this.cache.delete(url));  // asked again next time
      this.cache.set(url, decoded);
    }
    return this.cache.get(url);
  }

  async show(index) {
    if (!this.images.length) return;
    this.index = Math.max(0, Math.min(this.images.length - 1, index));
    const shown = this.index;
    let frame;
    try {
      frame = await this.load(shown);
    } catch (error) {
      if (shown === this.index) this.onError(error, shown);
      return;
    }
    if (shown !== this.index) return;  // scrolled on meanwhile
    this.frame = frame;
    if (!this.window) this.window = this.preset ?? defaultWindow(this.images[shown].item, frame);
    this.draw();
    this.onChange(this.images[shown], shown);
    for (let ahead = 1; ahead <= 6; ahead++) {  // prefetch what scrolling shows next
      if (shown + ahead < this.images.length) this.load(shown + ahead).catch(() => {});
    }
    this.images.forEach(({ url }, index) => {  // keep what is near
      if (Math.abs(index - shown) > 40 && this.cache.delete(url)) this.bytes.delete(url);
    });
  }

  draw() {
    const frame = this.frame;
    if (!frame) return;
    if (!this.bitmap || this.bitmap.width !== frame.columns || this.bitmap.height !== frame.rows) {
      this.bitmap = new OffscreenCanvas(frame.columns, frame.rows);
    }
    const bitmapContext = this.bitmap.getContext("2d");
    bitmapContext.putImageData(paint(frame, this.window, bitmapContext.createImageData(frame.columns, frame.rows)), 0, 0);
    const canvas = this.canvas;
    const box = canvas.getBoundingClientRect();
    const width = Math.max(1, Math.round(box.width)), height = Math.max(1, Math.round(box.height));
    if (canvas.width !== width || canvas.height !== height) (canvas.width = width), (canvas.height = height);
    const fit = Math.min(canvas.width / frame.columns, canvas.height / frame.rows) * this.zoom;
    const ctx = this.context;
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.imageSmoothingEnabled = fit < 1;
    ctx.drawImage(this.bitmap, (canvas.width - frame.columns * fit) / 2 + this.pan.x, (canvas.height - frame.rows * fit) / 2 + this.pan.y,
                  frame.columns * fit, frame.rows * fit);
  }

  setWindow(window) {
    this.window = window;
    this.draw();
    this.onChange(this.images[this.index], this.index);
  }

  usePreset(value) {
    this.preset = value;
    this.setWindow(value ?? defaultWindow(this.images[this.index].item, this.frame));
  }

  reset() {
    this.zoom = 1;
    this.pan = { x: 0, y: 0 };
    this.draw();
  }

  toggleCine(on) {
    clearInterval(this.cine);
    this.cine = on ? setInterval(() => this.show((this.index + 1) % this.images.length), 100) : null;
  }

  listen() {
    const canvas = this.canvas;
    let drag = null;
    canvas.addEventListener("pointerdown", (event) => {
      canvas.setPointerCapture(event.pointerId);
      drag = { x: event.clientX, y: event.clientY, window: { ...this.window }, pan: { ...this.pan }, shift: event.shiftKey };
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!drag || !this.frame) return;
      const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
      if (drag.shift) {
        this.pan = { x: drag.pan.x + dx, y: drag.pan.y + dy };
        this.draw();
        return;
      }
      const scale = Math.max(1, drag.window.width) / 256;
      this.setWindow({ center: drag.window.center + dy * scale, width: Math.max(1, drag.window.width + dx * scale * 2) });
    });
    const end = () => { drag = null; };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    canvas.addEventListener("wheel", (event) => {
      event.preventDefault();
      if (event.ctrlKey) {
        this.zoom = Math.min(16, Math.max(0.25, this.zoom * (event.deltaY < 0 ? 1.1 : 1 / 1.1)));
        this.draw();
      } else {
        this.show(this.index + (event.deltaY > 0 ? 1 : -1));
      }
    }, { passive: false });
    canvas.addEventListener("keydown", (event) => {
      const steps = { ArrowDown: 1, ArrowRight: 1, PageDown: 10, ArrowUp: -1, ArrowLeft: -1, PageUp: -10 };
      if (event.key in steps) this.show(this.index + steps[event.key]);
      else if (event.key === "Home") this.show(0);
      else if (event.key === "End") this.show(this.images.length - 1);
      else return;
      event.preventDefault();
    });
    new ResizeObserver(() => this.draw()).observe(canvas);
  }
}

/// The frames of a series from its WADO-RS metadata: per instance, each of its frames.
export function framesOf(metadata, instanceURL) {
  const instances = [...metadata].sort((a, b) => number(a, "InstanceNumber", 0) - number(b, "InstanceNumber", 0));
  return instances.flatMap((item) => {
    const count = number(item, "NumberOfFrames", 1);
    const url = instanceURL(item);
    return Array.from({ length: count }, (_, frame) => ({ url: `${url}/frames/${frame + 1}`, item, frameNumber: frame + 1 }));
  });
}

export const hasPixels = (item) => values(item, "Rows").length > 0;
