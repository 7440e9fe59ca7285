// Admin: the archive's counts, the derivation queue and its failures (retry), peers (C-ECHO),
// users and tokens, and the audit trail (newest first, filtered as you type).
import { debounce, el, getJSON, post, root, say } from "./api.js";

const ACTIONS = ["login", "logout", "query", "retrieve", "store", "delete", "export", "alert-acknowledged", "finding-reviewed",
  "user-changed", "token-changed", "access-denied", "application-start", "application-stop"];

async function counts() {
  const { body: s } = await getJSON(`${root}/api/stats`);
  const d = s.derivations;
  const rows = [["Patients", s.patients], ["Studies", s.studies], ["Series", s.series], ["Images", s.instances],
    ["Derivations queued", d.pending + d.running], ["Derivations done", d.done], ["Derivations failed", d.failed],
    ["Flagged images", s.flagged]];
  document.getElementById("counts").replaceChildren(...rows.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, String(value))]));
}

async function failures() {
  const { body: failed } = await getJSON(`${root}/api/derivations/failed`);
  document.getElementById("failed-count").textContent = failed.length ? `${failed.length} failed` : "None failed.";
  document.querySelector("#failed tbody").replaceChildren(...failed.map((job) => el("tr", {},
    el("td", {}, el("a", { href: `${root}/studies/${encodeURIComponent(job.StudyInstanceUID)}?instance=${encodeURIComponent(job.SOPInstanceUID)}` }, job.SOPInstanceUID)),
    el("td", {}, job.PatientID), el("td", {}, job.processor), el("td", { class: "number" }, String(job.attempts)),
    el("td", {}, job.lastError ?? ""),
    el("td", {}, el("button", { type: "button", onclick: () => retry({ instance: job.SOPInstanceUID, processor: job.processor }) }, "Retry")))));
}

async function retry(what) {
  try {
    const { requeued } = await post("/api/derivations/retry", what);
    say(`${requeued} ${requeued === 1 ? "job" : "jobs"} queued again.`);
    await Promise.all([failures(), counts()]);
  } catch (error) {
    say(`Not retried: ${error.message}`);
  }
}

async function peers() {
  const { body: list } = await getJSON(`${root}/api/peers`);
  const body = document.querySelector("#peers tbody");
  if (!list.length) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No peers configured (dimse.peers).")));
    return;
  }
  body.replaceChildren(...list.map((peer) => {
    const result = el("span", { class: "echo-result", "aria-live": "polite" });
    const button = el("button", { type: "button" }, "C-ECHO");
    button.addEventListener("click", async () => {
      button.disabled = true;
      result.textContent = "…";
      try {
        const echo = await post(`/api/peers/${encodeURIComponent(peer.name)}/echo`);
        result.textContent = echo.success ? ` OK (${Math.round(echo.milliseconds)} ms)` : ` failed: ${echo.status}`;
        result.className = `echo-result ${echo.success ? "ok" : "failed"}`;
      } catch (error) {
        result.textContent = ` ${error.message}`;
      } finally {
        button.disabled = false;
      }
    });
    return el("tr", { dataset: { peer: peer.name } }, el("td", {}, peer.name), el("td", {}, peer.aeTitle), el("td", {}, `${peer.host}:${peer.port}`),
      el("td", {}, peer.tls ? "yes" : "no"), el("td", {}, button, result));
  }));
}

async function accounts() {
  const { body: a } = await getJSON(`${root}/api/accounts`);
  const patients = (p) => (p ? p.join(", ") : "all");
  document.querySelector("#users tbody").replaceChildren(
    ...a.users.map((u) => el("tr", {}, el("td", {}, u.name), el("td", {}, "user"), el("td", {}, u.roles.join(", ")), el("td", {}, patients(u.patients)),
      el("td", {}, `since ${u.created.slice(0, 10)}`))),
    ...a.tokens.map((t) => el("tr", {}, el("td", {}, t.name), el("td", {}, "token"), el("td", {}, t.roles.join(", ")), el("td", {}, patients(t.patients)),
      el("td", {}, t.revoked ? `revoked ${t.revoked.slice(0, 10)}` : t.expires && Date.parse(t.expires) < Date.now() ? "expired"
        : `active${t.lastUsed ? `, last used ${t.lastUsed.slice(0, 16).replace("T", " ")}` : ""}`))));
}

const filter = document.getElementById("audit-filter");
async function audit() {
  const f = new FormData(filter);
  const params = { order: "newest", limit: 200, user: f.get("user").trim(), patient: f.get("patient").trim(), action: f.get("action") };
  try {
    const { body: entries } = await getJSON(`${root}/api/audit`, { params });
    document.querySelector("#audit tbody").replaceChildren(...entries.map((e) => el("tr", { class: e.outcome === "success" ? "" : "refused" },
      el("td", {}, e.time.slice(0, 19).replace("T", " ")), el("td", {}, e.actor), el("td", {}, e.address ?? ""), el("td", {}, e.action),
      el("td", {}, e.outcome), el("td", {}, e.patientID ?? ""), el("td", { class: "detail" }, e.detail ?? ""))));
  } catch (error) {
    say(`Audit trail: ${error.message}`);
  }
}

filter.querySelector("select").append(...ACTIONS.map((a) => el("option", { value: a }, a)));
filter.addEventListener("input", debounce(audit, 250));
filter.addEventListener("submit", (event) => { event.preventDefault(); audit(); });
document.getElementById("retry-all").addEventListener("click", () => retry({}));
for (const load of [counts, failures, peers, accounts, audit]) load().catch((error) => say(error.message));
