// Studies: search as you type (QIDO-RS underneath, with Loupe's loupe-patient and loupe-orderby),
// sortable columns, pages with the total count, badges for flagged images and photos.
import { date, debounce, el, qido, root, say, text, values } from "./api.js";

const PAGE = 25;
const form = document.getElementById("search");
const body = document.querySelector("#studies tbody");
const count = document.getElementById("count");
const pageLabel = document.getElementById("page");
const previous = document.getElementById("previous");
const next = document.getElementById("next");
let order = "-StudyDate";
let offset = 0;
let total = 0;
let pending = null;

function parameters() {
  const f = new FormData(form);
  const params = {
    limit: PAGE, offset, "loupe-orderby": order,
    includefield: "00081030,00080061,00201208,00100030",
  };
  const patient = f.get("patient").trim();
  if (patient) params["loupe-patient"] = patient;
  if (f.get("accession").trim()) params.AccessionNumber = `${f.get("accession").trim()}*`;
  const from = f.get("from").replaceAll("-", "");
  const to = f.get("to").replaceAll("-", "");
  if (from || to) params.StudyDate = `${from}-${to}`;
  if (f.get("modality").trim()) params.ModalitiesInStudy = f.get("modality").trim().toUpperCase();
  if (f.get("description").trim()) params.StudyDescription = `*${f.get("description").trim()}*`;
  return params;
}

async function search() {
  pending?.abort();
  pending = new AbortController();
  const signal = pending.signal;
  try {
    const { body: studies, headers } = await qido("/studies", parameters(), signal);
    total = Number(headers.get("X-Total-Count") ?? studies.length);
    render(studies);
    badges(studies, signal);
  } catch (error) {
    if (error.name !== "AbortError") say(`Search failed: ${error.message}`);
  }
}

function render(studies) {
  body.replaceChildren(...studies.map((study) => {
    const uid = text(study, "StudyInstanceUID");
    const modalities = values(study, "ModalitiesInStudy");
    const link = el("a", { href: `${root}/studies/${encodeURIComponent(uid)}` }, text(study, "PatientName") || "(no name)");
    const notes = el("td", { class: "notes" });
    if (modalities.includes("XC") || modalities.includes("DMS")) notes.append(el("span", { class: "badge photo" }, "photos"));
    return el("tr", { dataset: { study: uid } },
      el("td", {}, link),
      el("td", {}, el("a", { href: `${root}/patients/${encodeURIComponent(text(study, "PatientID"))}` }, text(study, "PatientID"))),
      el("td", {}, date(text(study, "StudyDate"))),
      el("td", {}, modalities.join(" ")),
      el("td", {}, text(study, "StudyDescription")),
      el("td", {}, text(study, "AccessionNumber")),
      el("td", { class: "number" }, text(study, "NumberOfStudyRelatedInstances")),
      notes);
  }));
  const first = total === 0 ? 0 : offset + 1;
  count.textContent = `${total} ${total === 1 ? "study" : "studies"}`;
  pageLabel.textContent = total ? `${first}–${offset + studies.length} of ${total}` : "";
  previous.disabled = offset === 0;
  next.disabled = offset + PAGE >= total;
}

/// Which of the listed studies have flagged images: one QIDO with the anomaly filter.
async function badges(studies, signal) {
  const uids = studies.map((s) => text(s, "StudyInstanceUID"));
  if (!uids.length) return;
  try {
    const { body: flagged } = await qido("/studies", { "loupe-anomaly": "invalid", StudyInstanceUID: uids.join(",") }, signal);
    for (const study of flagged) {
      const row = body.querySelector(`tr[data-study="${CSS.escape(text(study, "StudyInstanceUID"))}"] td.notes`);
      row?.prepend(el("span", { class: "badge flagged", title: "The anomaly screen flagged images of this study" }, "flagged"));
    }
  } catch {
    // badges are extras: the list stands without them
  }
}

const retype = debounce(() => { offset = 0; search(); }, 200);
form.addEventListener("input", retype);
form.addEventListener("submit", (event) => { event.preventDefault(); offset = 0; search(); });
previous.addEventListener("click", () => { offset = Math.max(0, offset - PAGE); search(); });
next.addEventListener("click", () => { offset += PAGE; search(); });
for (const button of document.querySelectorAll("#studies th button[data-sort]")) {
  button.addEventListener("click", () => {
    const key = button.dataset.sort;
    order = order === key ? `-${key}` : key;
    for (const other of document.querySelectorAll("#studies th button")) other.removeAttribute("aria-sort");
    button.setAttribute("aria-sort", order.startsWith("-") ? "descending" : "ascending");
    offset = 0;
    search();
  });
}
search();
