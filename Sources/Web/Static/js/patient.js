// Patient: every study, photo and finding of one patient on a timeline, newest first.
import { date, el, getJSON, instanceURL, personName, qido, root, say, text, thumbnail } from "./api.js";

const patient = document.getElementById("patient").dataset.patient;
const timeline = document.getElementById("timeline");
const PHOTO_MODALITIES = ["XC", "DMS"];

function describe(finding) {
  const score = typeof finding.score === "number" ? ` · ${finding.kind === "lesion" ? "TDS" : "rise"} ${finding.score.toFixed(1)}` : "";
  const probability = typeof finding.probability === "number" ? ` · ${Math.round(finding.probability * 100)} %` : "";
  const verdict = finding.review ? ` · reviewed: ${finding.review.verdict}` : "";
  return `${finding.kind}: ${finding.label}${finding.reason ? ` (${finding.reason})` : ""}${score}${probability}${verdict}`;
}

async function photos(study) {
  const { body: instances } = await qido(`/studies/${study}/instances`, { Modality: PHOTO_MODALITIES.join(","), limit: 24 });
  return el("ol", { class: "strip", "aria-label": "Photos" }, instances.map((i) => el("li", {},
    el("a", { href: `${root}/studies/${encodeURIComponent(study)}?instance=${encodeURIComponent(text(i, "SOPInstanceUID"))}` },
      thumbnail(`${instanceURL(study, text(i, "SeriesInstanceUID"), text(i, "SOPInstanceUID"))}/thumbnail`, `Photo ${text(i, "InstanceNumber")}`, 96)))));
}

try {
  const [{ body: detail }, { body: found }] = await Promise.all([
    getJSON(`${root}/api/patients/${encodeURIComponent(patient)}`),
    getJSON(`${root}/api/findings`, { params: { PatientID: patient, limit: 500 } }),
  ]);
  const name = detail.PatientName ? personName(detail.PatientName) : `Patient ${patient}`;
  document.getElementById("name").textContent = name;
  document.title = `${name} · Loupe`;
  document.getElementById("ids").textContent = [patient, detail.PatientSex, detail.PatientBirthDate && `born ${date(detail.PatientBirthDate)}`,
    `${detail.NumberOfPatientRelatedStudies} studies, ${detail.NumberOfPatientRelatedInstances} images`].filter(Boolean).join(" · ");
  const studies = [...detail.Studies].sort((a, b) => (b.StudyDate ?? "").localeCompare(a.StudyDate ?? ""));
  timeline.replaceChildren(...await Promise.all(studies.map(async (study) => {
    const uid = study.StudyInstanceUID;
    const findings = found.items.filter((f) => f.StudyInstanceUID === uid && !(f.kind === "anomaly" && f.label === "valid"));
    const isPhotos = study.ModalitiesInStudy.some((m) => PHOTO_MODALITIES.includes(m));
    return el("li", { dataset: { study: uid } },
      el("time", { datetime: date(study.StudyDate) }, date(study.StudyDate) || "(no date)"), " ",
      el("a", { href: `${root}/studies/${encodeURIComponent(uid)}` }, study.StudyDescription || "(no description)"),
      el("span", { class: "muted" }, ` · ${study.ModalitiesInStudy.join(" ")} · ${study.NumberOfStudyRelatedInstances ?? "?"} images`),
      isPhotos ? await photos(uid).catch(() => null) : null,
      findings.length ? el("ul", { class: "findings" }, findings.map((f) => el("li", { class: `finding ${f.label}` },
        el("a", { href: `${root}/studies/${encodeURIComponent(uid)}?instance=${encodeURIComponent(f.SOPInstanceUID)}` }, describe(f))))) : null);
  })));
  if (!studies.length) timeline.replaceChildren(el("li", { class: "muted" }, "No studies."));
} catch (error) {
  say(error.message);
}
