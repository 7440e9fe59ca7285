// The viewer: frames fetched uncompressed over WADO-RS and windowed in the browser as the server
// renders them (modality LUT, VOI window, MONOCHROME1 inverted, colour as RGB), on a canvas with
// window/level by drag, series scrolling by wheel and keys, cine, zoom and pan.
import { csrf, number, text, values } from "./api.js";

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

/// A frame's stored values as numbers (modality LUT applied) or RGB bytes.
export function decode(raw, item) {
  const rows = number(item, "Rows"), columns = number(item, "Columns");
  const samples = number(item, "SamplesPerPixel", 1);
  const bits = number(item, "BitsAllocated", 16);
  const signed = number(item, "PixelRepresentation", 0) === 1;
  const photometric = text(item, "PhotometricInterpretation") || "MONOCHROME2";
  const pixels = rows * columns;
  if (samples === 3) {
    const rgb = new Uint8ClampedArray(pixels * 3);
    const planar = number(item, "PlanarConfiguration", 0) === 1;
    for (let p = 0; p < pixels; p++) {
      for (let c = 0; c < 3; c++) rgb[p * 3 + c] = planar ? raw[c * pixels + p] : raw[p * 3 + c];
    }
    if (photometric === "YBR_FULL") {
      for (let p = 0; p < pixels * 3; p += 3) {
        const y = rgb[p], cb = rgb[p + 1] - 128, cr = rgb[p + 2] - 128;
        rgb[p] = y + 1.402 * cr;
        rgb[p + 1] = y - 0.344136 * cb - 0.714136 * cr;
        rgb[p + 2] = y + 1.772 * cb;
      }
    }
    return { rows, columns, rgb };
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const slope = number(item, "RescaleSlope", 1), intercept = number(item, "RescaleIntercept", 0);
  const stored = number(item, "BitsStored", bits);
  const values = new Float32Array(pixels);
  let min = Infinity, max = -Infinity;
  for (let p = 0; p < pixels; p++) {
    let v;
    if (bits === 8) v = signed ? view.getInt8(p) : view.getUint8(p);
    else if (bits === 32) v = signed ? view.getInt32(p * 4, true) : view.getUint32(p * 4, true);
    else {
      v = view.getUint16(p * 2, true) & ((1 << stored) - 1 || 0xffff);
      if (signed && v & (1 << (stored - 1))) v -= 1 << stored;
    }
    v = v * slope + intercept;
    values[p] = v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { rows, columns, values, min, max, inverted: photometric === "MONOCHROME1" };
}

/// The image's own window: the first Window Center/Width, else its value range.
export function defaultWindow(item, frame) {
  const center = number(item, "WindowCenter"), width = number(item, "WindowWidth");
  if (center !== undefined && width !== undefined && width > 0) return { center, width };
  if (frame.values) return { center: (frame.max + frame.min) / 2, width: Math.max(1, frame.max - frame.min) };
  return { center: 128, width: 256 };
}

/// RGBA for a canvas: the DICOM linear VOI function (PS3.3 C.11.2.1.2.1), then MONOCHROME1 inversion.
export function paint(frame, window, target) {
  const out = target.data;
  if (frame.rgb) {
    for (let p = 0, q = 0; p < frame.rgb.length; p += 3, q += 4) {
      out[q] = frame.rgb[p]; out[q + 1] = frame.rgb[p + 1]; out[q + 2] = frame.rgb[p + 2]; out[q + 3] = 255;
    }
    return target;
  }
  const c = window.center - 0.5, w = window.width - 1;
  const low = c - w / 2, high = c + w / 2;
  for (let p = 0, q = 0; p < frame.values.length; p++, q += 4) {
    const v = frame.values[p];
    let g = v <= low ? 0 : v > high ? 255 : ((v - c) / w + 0.5) * 255;
    if (frame.inverted) g = 255 - g;
    out[q] = out[q + 1] = out[q + 2] = g;
    out[q + 3] = 255;
  }
  return target;
}

export class Viewer {
  constructor(canvas, { onChange } = {}) {
    this.canvas = canvas;
    this.context = canvas.getContext("2d");
    this.onChange = onChange ?? (() => {});
    this.images = [];     // [{url, item, frame}] in display order
    this.index = 0;
    this.cache = new Map();
    this.window = null;
    this.preset = null;
    this.zoom = 1;
    this.pan = { x: 0, y: 0 };
    this.cine = null;
    this.listen();
  }

  /// The frames of a series (every frame of every instance, in instance-number order), showing `start`.
  setSeries(images, start = 0) {
    this.images = images;
    this.cache.clear();
    this.index = start;
    this.window = null;
    this.reset();
    return this.show(start);
  }

  async load(index) {
    const image = this.images[index];
    if (!this.cache.has(index)) {
      this.cache.set(index, (async () => {
        const response = await fetch(image.url, { headers: { Accept: FRAME_ACCEPT, "X-CSRF-Token": csrf }, credentials: "same-origin" });
        if (!response.ok) throw new Error(`frame ${index + 1}: ${response.status}`);
        return decode(firstPart(await response.arrayBuffer(), response.headers.get("Content-Type") ?? ""), image.item);
      })());
    }
    return this.cache.get(index);
  }

  async show(index) {
    if (!this.images.length) return;
    this.index = Math.max(0, Math.min(this.images.length - 1, index));
    const shown = this.index;
    const frame = await this.load(shown);
    if (shown !== this.index) return;  // scrolled on meanwhile
    this.frame = frame;
    if (!this.window) this.window = this.preset ?? defaultWindow(this.images[shown].item, frame);
    this.draw();
    this.onChange(this.images[shown], shown);
    for (let ahead = 1; ahead <= 6; ahead++) {  // prefetch what scrolling shows next
      if (shown + ahead < this.images.length) this.load(shown + ahead).catch(() => {});
    }
    for (const [key] of this.cache) if (Math.abs(key - shown) > 40) this.cache.delete(key);
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
    canvas.width = Math.max(1, Math.round(box.width));
    canvas.height = Math.max(1, Math.round(box.height));
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
