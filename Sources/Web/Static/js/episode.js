// A patient's flush episode: every photo of the day with its level and score against the baseline,
// the chart, and the alerts with who acknowledged them; live while open.
import { el, personName, root, say, thumbnail } from "./api.js";
import { acknowledgeButton, alarm, chart, clock, listen, photoURL, ward } from "./flush.js";

const patient = document.getElementById("episode").dataset.patient;
const picker = document.getElementById("date");
const params = new URLSearchParams(location.search);

async function refresh() {
  try {
    const board = await ward({ PatientID: patient, date: picker.value.replaceAll("-", "") || params.get("date") });
    picker.value = `${board.day.slice(0, 4)}-${board.day.slice(4, 6)}-${board.day.slice(6)}`;
    const episode = board.episodes[0];
    document.getElementById("who").textContent = episode?.PatientName
      ? `${personName(episode.PatientName)} (${patient})` : `Patient ${patient}`;
    if (!episode) {
      document.getElementById("chart").replaceChildren(el("p", { class: "muted" }, "No flush photo on this day."));
      document.getElementById("photos").replaceChildren();
      document.getElementById("alerts").replaceChildren();
      return;
    }
    document.getElementById("chart").replaceChildren(chart(episode, { width: 640, height: 160 }));
    document.getElementById("alerts").replaceChildren(...episode.alerts.map((alert) => el("p", { class: alert.acknowledgedBy ? "muted" : "alerting", role: alert.acknowledgedBy ? null : "alert" },
      `${alert.level} flush (rise ${alert.score?.toFixed(1) ?? "?"}) at ${new Date(alert.raised).toLocaleTimeString()} · `,
      alert.acknowledgedBy ? `acknowledged by ${alert.acknowledgedBy} at ${new Date(alert.acknowledged).toLocaleTimeString()}` : acknowledgeButton(alert, refresh))));
    document.getElementById("photos").replaceChildren(...[...episode.photos].reverse().map((photo) => el("li", {},
      thumbnail(`${photoURL(episode, photo)}/thumbnail`, `Photo at ${clock(photo)}`, 240),
      el("strong", {}, clock(photo)),
      el("span", { class: `level ${photo.level ?? "pending"}` }, photo.level ?? "not measured yet"),
      typeof photo.score === "number" ? el("span", {}, `rise ${photo.score.toFixed(1)}`) : null,
      photo.isBaseline ? el("span", { class: "badge photo" }, "baseline") : null,
      el("a", { href: `${root}/studies/${encodeURIComponent(episode.StudyInstanceUID)}?instance=${encodeURIComponent(photo.SOPInstanceUID)}` }, "Open"))));
  } catch (error) {
    say(`Cannot load the episode: ${error.message}`);
  }
}

picker.addEventListener("change", refresh);
listen((payload) => {
  if (payload.PatientID !== patient) return;
  alarm();
  refresh();
}, document.getElementById("connection"));
refresh();
