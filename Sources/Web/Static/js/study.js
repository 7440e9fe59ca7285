// Study: header, series strip with thumbnails, the viewer, and beside it the current image's
// finding, derived PNG and tags.
import { date, dicomweb, el, getJSON, instanceURL, qido, root, say, text, thumbnail, values } from "./api.js";
import { Viewer, framesOf, hasPixels } from "./viewer.js";

const study = document.getElementById("study").dataset.study;
const strip = document.getElementById("series");
const position = document.getElementById("position");
const readout = document.getElementById("window-readout");
let current = null;

const viewer = new Viewer(document.getElementById("image"), {
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

async function header() {
  const { body: [found] } = await qido("/studies", { StudyInstanceUID: study, includefield: "00081030,00100030,00100040" });
  if (!found) throw new Error("no such study");
  document.getElementById("study-title").textContent = text(found, "StudyDescription") || "Study";
  const patient = text(found, "PatientName");
  const id = text(found, "PatientID");
  document.getElementById("study-patient").replaceChildren(
    el("a", { href: `${root}/patients/${encodeURIComponent(id)}` }, patient || id), ` · ${id} · `,
    date(text(found, "StudyDate")), ` · ${values(found, "ModalitiesInStudy").join(" ")} · accession ${text(found, "AccessionNumber") || "—"}`);
  document.title = `${patient || id} · Loupe`;
}

async function seriesStrip() {
  const { body: series } = await qido(`/studies/${study}/series`, { includefield: "0008103E" });
  series.sort((a, b) => Number(text(a, "SeriesNumber") || 0) - Number(text(b, "SeriesNumber") || 0));
  strip.replaceChildren(...series.map((s) => {
    const uid = text(s, "SeriesInstanceUID");
    const label = `${text(s, "Modality")} ${text(s, "SeriesNumber")} ${text(s, "SeriesDescription")}`.trim();
    const button = el("button", { type: "button", class: "series", dataset: { series: uid }, "aria-label": `Series ${label}` },
      thumbnail(`${dicomweb}/studies/${study}/series/${uid}/thumbnail`, "", 96),
      el("span", {}, label), el("span", { class: "muted" }, `${text(s, "NumberOfSeriesRelatedInstances")} images`));
    button.addEventListener("click", () => open(uid));
    return el("li", {}, button);
  }));
  return series;
}

async function open(series, instance) {
  for (const button of strip.querySelectorAll("button")) button.setAttribute("aria-pressed", String(button.dataset.series === series));
  const { body: metadata } = await getJSON(`${dicomweb}/studies/${study}/series/${series}/metadata`, { accept: "application/dicom+json" });
  const frames = framesOf(metadata.filter(hasPixels), (item) => instanceURL(study, series, text(item, "SOPInstanceUID")));
  if (!frames.length) {
    say("This series has no images.");
    return;
  }
  await viewer.setSeries(frames, Math.max(0, frames.findIndex((f) => text(f.item, "SOPInstanceUID") === instance)));
  document.getElementById("image").focus({ preventScroll: true });
}

async function describe(item) {
  const uid = text(item, "SOPInstanceUID"), series = text(item, "SeriesInstanceUID");
  const download = document.getElementById("download");
  download.href = `${root}/wado?requestType=WADO&studyUID=${study}&seriesUID=${series}&objectUID=${uid}&contentType=application%2Fdicom`;
  download.setAttribute("download", `${uid}.dcm`);
  const similar = document.getElementById("similar-link");
  similar.href = `${root}/similar?instance=${encodeURIComponent(uid)}`;
  similar.hidden = false;
  const table = document.getElementById("tags");
  table.replaceChildren(...Object.entries(item).filter(([, e]) => e.vr !== "SQ" && e.Value).map(([tag, e]) =>
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

/// The series to open first: the one holding ?instance= (a similar image's link), else the first with images.
async function firstSeries(series) {
  const instance = new URLSearchParams(location.search).get("instance");
  if (instance) {
    const { body: [found] } = await qido(`/studies/${study}/instances`, { SOPInstanceUID: instance });
    if (found) return [text(found, "SeriesInstanceUID"), instance];
  }
  const first = series.find((s) => !["SR", "KO", "PR", "DOC"].includes(text(s, "Modality"))) ?? series[0];
  return [first && text(first, "SeriesInstanceUID"), null];
}

try {
  await header();
  const [series, instance] = await firstSeries(await seriesStrip());
  if (series) await open(series, instance);
} catch (error) {
  say(error.message);
}
