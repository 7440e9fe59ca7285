// Similar images: the archive's images most like one of its own (?instance=UID) or like an image
// uploaded from this computer, with filters; each result leads to its study.
import { date, el, getJSON, personName, post, root, say, thumbnail } from "./api.js";

const filters = document.getElementById("filters");
const upload = document.getElementById("file");
const results = document.getElementById("results");
const count = document.getElementById("count");
const query = document.getElementById("query");
const params = new URLSearchParams(location.search);
let instance = params.get("instance");
let uploaded = null;

function options() {
  const f = new FormData(filters);
  const options = { k: f.get("k") || 12 };
  if (f.get("modality").trim()) options.modality = f.get("modality").trim().toUpperCase();
  if (f.get("kind")) options.kind = f.get("kind");
  if (f.get("other-patients")) options["exclude-same-patient"] = "true";
  return options;
}

async function search() {
  if (!instance && !uploaded) {
    count.textContent = "Open an image's \"Images like this one\", or choose an image from this computer.";
    return;
  }
  count.textContent = "Searching…";
  try {
    let answer;
    if (instance) {
      ({ body: answer } = await getJSON(`${root}/api/similar`, { params: { instance, ...options() } }));
    } else {
      // "Other patients only" means nothing for an image from outside the archive.
      const { "exclude-same-patient": _, ...rest } = options();
      answer = await post(`/api/similar?${new URLSearchParams(rest)}`, uploaded, uploaded.type || "application/dicom");
    }
    show(answer.results);
  } catch (error) {
    count.textContent = "";
    say(`Search failed: ${error.message}`);
  }
}

function show(matches) {
  count.textContent = `${matches.length} most similar, best first`;
  results.replaceChildren(...matches.map((m) => el("li", { class: "match", dataset: { instance: m.SOPInstanceUID } },
    el("a", { href: `${root}/studies/${encodeURIComponent(m.StudyInstanceUID)}?instance=${encodeURIComponent(m.SOPInstanceUID)}`, class: "open" },
      thumbnail(m.thumbnail, `${m.Modality ?? ""} image of ${m.PatientName ? personName(m.PatientName) : m.PatientID}`, 180)),
    el("strong", { class: "score" }, `${(m.score * 100).toFixed(1)} %`),
    el("span", {}, [m.PatientName && personName(m.PatientName), m.PatientID].filter(Boolean).join(" · ")),
    el("span", { class: "muted" }, [m.Modality, m.BodyPartExamined, m.StudyDescription, date(m.StudyDate)].filter(Boolean).join(" · ")),
    el("a", { href: `${root}/similar?instance=${encodeURIComponent(m.SOPInstanceUID)}` }, "Images like this one"))));
}

function showQuery() {
  if (instance) {
    query.replaceChildren(el("p", {}, "Images like "), el("img", { src: `${root}/api/derived/${encodeURIComponent(instance)}.png`, alt: "The query image" }));
  } else if (uploaded) {
    const children = [el("p", {}, `Images like ${uploaded.name}`)];
    if (uploaded.type.startsWith("image/")) children.push(el("img", { src: URL.createObjectURL(uploaded), alt: "The uploaded image" }));
    query.replaceChildren(...children);
  }
}

filters.addEventListener("change", search);
filters.addEventListener("submit", (event) => { event.preventDefault(); search(); });
upload.addEventListener("change", () => {
  uploaded = upload.files[0] ?? null;
  if (!uploaded) return;
  instance = null;
  history.replaceState(null, "", `${root}/similar`);
  showQuery();
  search();
});
showQuery();
search();
