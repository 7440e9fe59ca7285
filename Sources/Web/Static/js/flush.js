// What the flush watch's board and episode page share: the day's data, the score chart, alerts and
// their acknowledgement, the live event stream and the alarm sound.
import { el, getJSON, instanceURL, post, root, say } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";

/// The episodes of a day (`date` YYYYMMDD, default today on the node), or one patient's.
export async function ward(params = {}) {
  const { body } = await getJSON(`${root}/api/ward`, { params });
  return body;
}

export const photoURL = (episode, photo) => instanceURL(episode.StudyInstanceUID, episode.SeriesInstanceUID, photo.SOPInstanceUID);

/// The alerts nobody has acknowledged yet.
export const openAlerts = (episode) => episode.alerts.filter((a) => !a.acknowledgedBy);

/// The latest level measured (photos not analysed yet have none).
export function latestLevel(episode) {
  return [...episode.photos].reverse().find((p) => p.level && p.level !== "unmeasured")?.level ?? null;
}

/// HH:MM of a photo (taken where the node is), else of its arrival.
export function clock(photo) {
  if (photo.taken?.length >= 12) return `${photo.taken.slice(8, 10)}:${photo.taken.slice(10, 12)}`;
  return new Date(photo.received).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function since(iso) {
  const minutes = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 60000));
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min ago`;
}

/// The erythema-index rise of each photo over the patient's baseline (the zero line), as SVG.
export function chart(episode, { width = 260, height = 90 } = {}) {
  const measured = episode.photos.filter((p) => typeof p.score === "number");
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  const scores = measured.map((p) => p.score);
  svg.setAttribute("aria-label", scores.length
    ? `Erythema rise over the baseline: ${scores.map((s) => s.toFixed(1)).join(", ")}` : "No measured photo yet");
  const top = Math.max(5, ...scores), bottom = Math.min(0, ...scores);
  const y = (v) => height - 8 - ((v - bottom) / (top - bottom || 1)) * (height - 16);
  const x = (i) => (measured.length < 2 ? width / 2 : 8 + (i * (width - 16)) / (measured.length - 1));
  const line = (y0, cls) => {
    const l = document.createElementNS(SVG, "line");
    for (const [k, v] of Object.entries({ x1: 0, x2: width, y1: y0, y2: y0, class: cls })) l.setAttribute(k, v);
    return l;
  };
  svg.append(line(y(0), "baseline"));
  const path = document.createElementNS(SVG, "polyline");
  path.setAttribute("points", measured.map((p, i) => `${x(i)},${y(p.score)}`).join(" "));
  svg.append(path);
  measured.forEach((p, i) => {
    const dot = document.createElementNS(SVG, "circle");
    for (const [k, v] of Object.entries({ cx: x(i), cy: y(p.score), r: 4, class: `dot ${p.level}` })) dot.setAttribute(k, v);
    const title = document.createElementNS(SVG, "title");
    title.textContent = `${clock(p)}: ${p.score.toFixed(1)} (${p.level})`;
    dot.append(title);
    svg.append(dot);
  });
  return el("div", { class: "chart" }, svg);
}

/// A button that acknowledges an alert (recording who and when), then calls `done`.
export function acknowledgeButton(alert, done) {
  const button = el("button", { type: "button", class: "acknowledge" }, "Acknowledge");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await post(`/api/alerts/${alert.sequence}/acknowledge`, "", "text/plain");
      say("Acknowledged.");
      done();
    } catch (error) {
      button.disabled = false;
      say(`Not acknowledged: ${error.message}`);
    }
  });
  return button;
}

/// Calls `onAlert(payload)` for each flush alert as it is raised; reports the connection state.
export function listen(onAlert, status) {
  const source = new EventSource(`${root}/api/events?topic=flush`, { withCredentials: true });
  source.addEventListener("open", () => { status.textContent = "Live: alerts appear as photos are analysed."; });
  source.addEventListener("error", () => { status.textContent = "Reconnecting to the alert stream…"; });
  source.addEventListener("flush", (event) => onAlert(JSON.parse(event.data), event.lastEventId));
  return source;
}

let audio = null;
/// Whether sound plays: browsers allow it once the page was touched (or when started to allow it, as
/// a ward station's kiosk browser can be).
export async function enableSound() {
  audio ??= new AudioContext();
  await audio.resume().catch(() => {});
  return audio.state === "running";
}

/// Three short tones; false when the browser does not let the page play sound yet.
export function alarm() {
  if (!audio || audio.state !== "running") return false;
  for (const [start, frequency] of [[0, 880], [0.25, 660], [0.5, 880]]) {
    const tone = audio.createOscillator(), gain = audio.createGain();
    tone.frequency.value = frequency;
    gain.gain.setValueAtTime(0.2, audio.currentTime + start);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + start + 0.22);
    tone.connect(gain).connect(audio.destination);
    tone.start(audio.currentTime + start);
    tone.stop(audio.currentTime + start + 0.23);
  }
  return true;
}
