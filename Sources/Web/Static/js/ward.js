// Flush watch, the ward board: a tile per patient photographed today (latest photo, level, score
// over the day against the patient's baseline, time since the last photo). An alert turns its tile
// red with a sound the moment it is raised (server-sent events); a nurse acknowledges it.
import { el, personName, root, say, thumbnail } from "./api.js";
import { acknowledgeButton, alarm, chart, clock, enableSound, latestLevel, listen, openAlerts, photoURL, since, ward } from "./flush.js";

const tiles = document.getElementById("tiles");
const day = document.getElementById("day");
const connection = document.getElementById("connection");
let shown = [];

async function refresh() {
  try {
    const board = await ward();
    day.textContent = `${board.day.slice(0, 4)}-${board.day.slice(4, 6)}-${board.day.slice(6)}`;
    shown = board.episodes;
    render();
  } catch (error) {
    say(`Cannot load the board: ${error.message}`);
  }
}

function render() {
  if (!shown.length) {
    tiles.replaceChildren(el("li", { class: "muted" }, "No patient has been photographed today."));
    return;
  }
  tiles.replaceChildren(...shown.map(tile));
}

function tile(episode) {
  const open = openAlerts(episode);
  const last = episode.photos.at(-1);
  const level = latestLevel(episode);
  const name = episode.PatientName ? personName(episode.PatientName) : episode.PatientID;
  const alertBox = open.length
    ? el("div", { class: "alerting", role: "alert" },
      el("strong", {}, `${open.at(-1).level} flush at ${new Date(open.at(-1).raised).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`),
      acknowledgeButton(open.at(-1), refresh))
    : null;
  const acknowledged = episode.alerts.filter((a) => a.acknowledgedBy).at(-1);
  return el("li", { class: `tile${open.length ? " alert" : ""}${level === "mild" ? " mild" : ""}`, dataset: { patient: episode.PatientID, series: episode.SeriesInstanceUID } },
    el("h2", {}, el("a", { href: `${root}/ward/${encodeURIComponent(episode.PatientID)}` }, name)),
    el("span", { class: "muted" }, episode.PatientID),
    last ? thumbnail(`${photoURL(episode, last)}/thumbnail`, `Latest photo of ${name}, ${clock(last)}`, 260) : null,
    el("p", {}, el("span", { class: `level ${level ?? "pending"}` }, level ?? "not measured yet"),
      last && typeof last.score === "number" ? ` · rise ${last.score.toFixed(1)}` : ""),
    chart(episode),
    el("p", { class: "muted since", dataset: { received: last?.received ?? "" } }, last ? `Last photo ${since(last.received)}` : ""),
    alertBox,
    !open.length && acknowledged ? el("p", { class: "muted" }, `Alert acknowledged by ${acknowledged.acknowledgedBy}`) : null);
}

const soundButton = document.getElementById("sound");
async function turnSoundOn() {
  if (!(await enableSound())) return;
  soundButton.setAttribute("aria-pressed", "true");
  soundButton.textContent = "Sound on";
}
soundButton.addEventListener("click", turnSoundOn);
// Any touch of the page allows sound; a kiosk browser may allow it from the start.
document.addEventListener("pointerdown", turnSoundOn, { once: true });
document.addEventListener("keydown", turnSoundOn, { once: true });
turnSoundOn();

listen(async (payload) => {
  // Red at once, then the full tile (with its acknowledge button) from the board.
  const known = tiles.querySelector(`li[data-series="${CSS.escape(payload.SeriesInstanceUID)}"]`);
  known?.classList.add("alert");
  if (alarm()) tiles.dataset.alarms = String(Number(tiles.dataset.alarms ?? 0) + 1);
  await refresh();
}, connection);
setInterval(() => {
  for (const node of tiles.querySelectorAll(".since[data-received]")) {
    if (node.dataset.received) node.textContent = `Last photo ${since(node.dataset.received)}`;
  }
}, 30000);
setInterval(refresh, 60000);  // photos that raise no alert show up too
refresh();
