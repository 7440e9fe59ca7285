// Lesion check: a lesion photo posted for a patient (body site, scale), then its outline drawn over
// it, the ABCD values and the total dermoscopy score with its band (a rule-based score, never a
// diagnosis), and the archive's most similar lesions.
import { date, el, getJSON, instanceURL, personName, post, root, say, thumbnail } from "./api.js";

const form = document.getElementById("lesion-form");
const result = document.getElementById("result");
const SVG = "http://www.w3.org/2000/svg";
const bands = { low: "low (TDS below 4.75)", suspicious: "suspicious (4.75 to 5.45)", high: "high (above 5.45)" };

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const f = new FormData(form);
  const metadata = { kind: "lesion", PatientID: f.get("PatientID").trim(), PatientName: f.get("PatientName").trim() };
  if (f.get("BodySite").trim()) metadata.BodySite = f.get("BodySite").trim();
  if (f.get("PixelSpacing")) metadata.PixelSpacing = Number(f.get("PixelSpacing"));
  const body = new FormData();
  body.append("image", f.get("image"));
  body.append("metadata", new Blob([JSON.stringify(metadata)], { type: "application/json" }));
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  say("Sending the photo…");
  try {
    const stored = await post("/api/photos", body);
    say("Photo archived; measuring…");
    await show(stored, await finding(stored.SOPInstanceUID));
    say("");
  } catch (error) {
    say(`Not checked: ${error.message}`);
  } finally {
    button.disabled = false;
  }
});

/// The lesion finding, once the derivation has run (polled: it takes a second or two).
async function finding(uid) {
  for (let attempt = 0; attempt < 240; attempt++) {
    const { body: analysis } = await getJSON(`${root}/api/instances/${encodeURIComponent(uid)}/analysis`);
    const found = analysis.findings.find((f) => f.kind === "lesion");
    if (found) return found;
    if (analysis.derivations.some((d) => d.processor === "photo" && d.state === "failed")) throw new Error("the analysis failed");
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error("the analysis has not finished; look again later");
}

async function show(stored, lesion) {
  const url = instanceURL(stored.StudyInstanceUID, stored.SeriesInstanceUID, stored.SOPInstanceUID);
  const photo = document.getElementById("photo");
  photo.src = `${url}/rendered`;
  const outline = document.getElementById("outline");
  outline.setAttribute("viewBox", "0 0 1 1");
  outline.setAttribute("preserveAspectRatio", "none");
  outline.replaceChildren();
  const d = lesion.details;
  if (d.outline?.length) {
    const polygon = document.createElementNS(SVG, "polygon");
    polygon.setAttribute("points", d.outline.map(([x, y]) => `${x},${y}`).join(" "));
    outline.append(polygon);
  }
  const values = document.getElementById("abcd");
  if (lesion.label === "unmeasured") {
    values.replaceChildren(el("dt", {}, "Not measured"), el("dd", {}, lesion.reason ?? d.error ?? ""));
  } else {
    const row = (term, value) => [el("dt", {}, term), el("dd", {}, value)];
    values.replaceChildren(
      ...row("A, asymmetry", `${d.asymmetry} of 2 axes`),
      ...row("B, border", `${d.border} of 8 sharp segments`),
      ...row("C, colours", `${d.colours.length}: ${d.colours.join(", ") || "none"}`),
      ...row("D, diameter", d.diameterMillimetres ? `${d.diameterMillimetres.toFixed(1)} mm (D ${d.differentialStructures})` : `${Math.round(d.diameterPixels)} px, no scale (D ${d.differentialStructures})`),
      ...row("Total dermoscopy score", el("strong", { id: "tds" }, d.totalDermoscopyScore.toFixed(2))),
      ...row("Band", el("span", { class: `band ${d.risk}` }, bands[d.risk] ?? d.risk)),
      ...row("How", d.formula));
  }
  result.hidden = false;
  await similar(stored.SOPInstanceUID);
}

async function similar(uid) {
  const list = document.getElementById("similar");
  try {
    const { body } = await getJSON(`${root}/api/similar`, { params: { instance: uid, kind: "lesion", k: 6 } });
    list.replaceChildren(...body.results.map((m) => el("li", {},
      el("a", { href: `${root}/studies/${encodeURIComponent(m.StudyInstanceUID)}?instance=${encodeURIComponent(m.SOPInstanceUID)}` },
        thumbnail(m.thumbnail, `Lesion of ${m.PatientName ? personName(m.PatientName) : m.PatientID}`, 160)),
      el("strong", {}, `${(m.score * 100).toFixed(1)} %`),
      el("span", { class: "muted" }, [m.PatientID, m.BodyPartExamined, date(m.StudyDate)].filter(Boolean).join(" · ")))));
    if (!body.results.length) list.replaceChildren(el("li", { class: "muted" }, "No other lesion photo yet."));
  } catch (error) {
    list.replaceChildren(el("li", { class: "muted" }, `Similar lesions unavailable: ${error.message}`));
  }
}
