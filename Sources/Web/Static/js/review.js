// Anomaly review: the images the anomaly screen flagged, newest first; a reviewer confirms each or
// calls it a false alarm, and the queue shows what is left.
import { date, el, getJSON, instanceURL, personName, post, root, say, thumbnail } from "./api.js";

const queue = document.getElementById("queue");
const count = document.getElementById("count");
const showDone = document.getElementById("show-done");
const verdicts = { confirmed: "Confirmed", "false-alarm": "False alarm" };
let remaining = 0;

async function load() {
  const params = { kind: "anomaly", label: "invalid", limit: 100 };
  if (!showDone.checked) params.reviewed = "false";
  try {
    const { body: page } = await getJSON(`${root}/api/findings`, { params });
    remaining = page.remaining;
    showCount();
    queue.replaceChildren(...page.items.map(card));
  } catch (error) {
    say(`Cannot load the queue: ${error.message}`);
  }
}

function showCount() {
  count.textContent = remaining === 0 ? "Nothing left to review." : `${remaining} left to review`;
}

function card(item) {
  const url = instanceURL(item.StudyInstanceUID, item.SeriesInstanceUID, item.SOPInstanceUID);
  const state = el("p", { class: "verdict" }, item.review ? `${verdicts[item.review.verdict]} by ${item.review.reviewer}` : "");
  const buttons = Object.entries(verdicts).map(([verdict, label]) =>
    el("button", { type: "button", dataset: { verdict }, onclick: () => decide(item, verdict, li) }, label));
  const li = el("li", { class: "flagged-item", dataset: { instance: item.SOPInstanceUID } },
    el("a", { href: `${root}/studies/${encodeURIComponent(item.StudyInstanceUID)}?instance=${encodeURIComponent(item.SOPInstanceUID)}` },
      thumbnail(`${url}/thumbnail`, `Flagged image of ${item.PatientName ? personName(item.PatientName) : item.PatientID}`, 180)),
    el("strong", { class: "finding invalid" }, item.reason ?? "flagged"),
    el("span", {}, `${Math.round((item.probability ?? 0) * 100)} % · ${item.Modality ?? ""}`),
    el("span", { class: "muted" }, [item.PatientName && personName(item.PatientName), item.PatientID, item.StudyDescription, date(item.StudyDate)].filter(Boolean).join(" · ")),
    el("div", { class: "actions", role: "group", "aria-label": "Verdict" }, buttons),
    state);
  return li;
}

async function decide(item, verdict, li) {
  for (const button of li.querySelectorAll("button")) button.disabled = true;
  try {
    const reviewed = await post(`/api/findings/${encodeURIComponent(item.SOPInstanceUID)}/review`, { verdict, kind: item.kind });
    if (!item.review) remaining -= 1;
    item.review = reviewed.review;
    showCount();
    if (showDone.checked) {
      li.querySelector(".verdict").textContent = `${verdicts[verdict]} by ${reviewed.review.reviewer}`;
      for (const button of li.querySelectorAll("button")) button.disabled = false;
    } else {
      li.remove();
    }
    say(`${verdicts[verdict]}: recorded.`);
  } catch (error) {
    for (const button of li.querySelectorAll("button")) button.disabled = false;
    say(`Not recorded: ${error.message}`);
  }
}

showDone.addEventListener("change", load);
load();
