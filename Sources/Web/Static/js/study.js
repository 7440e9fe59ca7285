// Study: the series strip (written by the server, with the header), the viewer, and beside it the
// current image's finding, derived PNG and tags.
import { dicomweb, el, getJSON, identified, identifyingTags, instanceURL, qido, root, say, text } from "./api.js";
import { Viewer, framesOf, hasPixels } from "./viewer.js";

const study = document.getElementById("study").dataset.study;
const strip = document.getElementById("series");
const position = document.getElementById("position");
const readout = document.getElementById("window-readout");
let current = null;

const viewer = new Viewer(document.getElementById("image"), {
  onError: (error, index) => say(`Image ${index + 1} cannot be shown: ${error.message}`),
  onChange: (image, index) => {
    position.textContent = `Image ${index + 1} of ${viewer.images.length}`;
    if (viewer.window) readout.textContent = `W ${Math.round(viewer.window.width)} L ${Math.round(viewer.window.center)}`;
    const uid = text(image.item, "SOPInstanceUID");
    if (uid !== current) {
      current = uid;
      describe(image.item);
    }
  },
});

/// The series the page lists (the server wrote them, with each series' first image).
function seriesStrip() {
  const buttons = [...strip.querySelectorAll("button.series")];
  for (const button of buttons) {
    button.addEventListener("click", () => open(button.dataset.series));
    const image = button.querySelector("img");
    if (image.complete && image.naturalWidth === 0) image.classList.add("missing");
    else image.addEventListener("error", () => image.classList.add("missing"), { once: true });
  }
  return buttons;
}

async function open(series, instance) {
  const button = strip.querySelector(`button[data-series="${CSS.escape(series)}"]`);
  for (const other of strip.querySelectorAll("button")) other.setAttribute("aria-pressed", String(other === button));
  // The first image from its own metadata (a few kB) before the series' (hundreds of kB for a long
  // series, whose parsing would hold the page up); its pixels fetched beside its metadata.
  const first = instance ?? button?.dataset.first;
  if (first) {
    const url = instanceURL(study, series, first);
    viewer.prefetch(`${url}/frames/1`);
    const { body: items } = await getJSON(`${url}/metadata`, { accept: "application/dicom+json" });
    const frames = framesOf(items.filter(hasPixels), () => url);
    if (frames.length) await viewer.setSeries(frames);
  }
  const seriesURL = `${dicomweb}/studies/${encodeURIComponent(study)}/series/${encodeURIComponent(series)}`;
  const { body: metadata } = await getJSON(`${seriesURL}/metadata`, { accept: "application/dicom+json" });
  const frames = framesOf(metadata.filter(hasPixels), (item) => instanceURL(study, series, text(item, "SOPInstanceUID")));
  if (!frames.length) {
    say("This series has no images.");
    return;
  }
  const shown = viewer.images[viewer.index]?.url;
  await viewer.setSeries(frames, Math.max(0, frames.findIndex((f) => (shown ? f.url === shown : text(f.item, "SOPInstanceUID") === instance))));
  document.getElementById("image").focus({ preventScroll: true });
}

async function describe(item) {
  const uid = text(item, "SOPInstanceUID"), series = text(item, "SeriesInstanceUID");
  const download = document.getElementById("download");
  const query = new URLSearchParams({ requestType: "WADO", studyUID: study, seriesUID: series, objectUID: uid, contentType: "application/dicom" });
  download.href = `${root}/wado?${query}`;
  download.setAttribute("download", `${uid}.dcm`);
  const similar = document.getElementById("similar-link");
  similar.href = `${root}/similar?instance=${encodeURIComponent(uid)}`;
  similar.hidden = false;
  const table = document.getElementById("tags");
  const shown = ([tag, e]) => e.vr !== "SQ" && e.Value && (identified || !identifyingTags.has(tag));
  table.replaceChildren(...Object.entries(item).filter(shown).map(([tag, e]) =>
    el("tr", {}, el("th", { scope: "row" }, `(${tag.slice(0, 4)},${tag.slice(4)}) ${e.vr}`),
      el("td", {}, e.Value.map((v) => (typeof v === "object" ? v.Alphabetic ?? JSON.stringify(v) : String(v))).join("\\")))));
  const finding = document.getElementById("finding"), derived = document.getElementById("derived");
  try {
    const { body: analysis } = await getJSON(`${root}/api/instances/${encodeURIComponent(uid)}/analysis`);
    if (current !== uid) return;
    const anomaly = analysis.findings.find((f) => f.kind === "anomaly");
    finding.replaceChildren(anomaly
      ? el("p", { class: `finding ${anomaly.label}` }, anomaly.label === "invalid" ? `Flagged: ${anomaly.reason} ` : "Valid medical image ",
        el("span", { class: "muted" }, `(${Math.round(anomaly.probability * 100)} %)`))
      : el("p", { class: "muted" }, analysis.derivations.some((d) => d.state === "pending" || d.state === "running")
        ? "Not analysed yet." : "No finding."));
    const png = analysis.derived.find((d) => d.kind === "png");
    derived.replaceChildren(png ? el("a", { href: `${root}${png.url}` }, el("img", { src: `${root}${png.url}`, alt: "Derived PNG", class: "derived" }))
      : el("p", { class: "muted" }, "Not derived yet."));
  } catch (error) {
    finding.replaceChildren(el("p", { class: "muted" }, error.message));
  }
}

document.getElementById("preset").addEventListener("change", (event) => {
  const [center, width] = event.target.value.split(",").map(Number);
  viewer.usePreset(event.target.value ? { center, width } : null);
});
document.getElementById("cine").addEventListener("click", (event) => {
  const on = event.currentTarget.getAttribute("aria-pressed") !== "true";
  event.currentTarget.setAttribute("aria-pressed", String(on));
  viewer.toggleCine(on);
});
document.getElementById("reset").addEventListener("click", () => viewer.reset());

/// The series to open first: the one holding ?instance= (a similar image's link), else the first
/// listed (the server lists series with images first).
async function firstSeries(buttons) {
  const instance = new URLSearchParams(location.search).get("instance");
  if (instance && /^[0-9.]{1,64}$/.test(instance)) {  // a UID, nothing a link could smuggle into a path
    const { body: [found] } = await qido(`/studies/${encodeURIComponent(study)}/instances`, { SOPInstanceUID: instance });
    if (found) return [text(found, "SeriesInstanceUID"), text(found, "SOPInstanceUID")];
  }
  return [buttons[0]?.dataset.series, null];
}

try {
  const [series, instance] = await firstSeries(seriesStrip());
  if (series) await open(series, instance);
} catch (error) {
  say(error.message);
}
