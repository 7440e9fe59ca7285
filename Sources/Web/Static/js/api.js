// What every screen shares: the node's paths, JSON and DICOM JSON over fetch (same-origin cookie,
// CSRF token on writes), and small DOM helpers that only ever set text, never HTML.

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content ?? "";
export const root = meta("loupe-root");
export const csrf = meta("csrf-token");
/// Whether the signed-in identity may see who patients are (the `phi` permission).
export const identified = meta("loupe-phi") === "yes";
/// Attributes that say who a patient is (DICOM JSON keys), which screens hide without `phi` as the
/// server's search results leave them out.
export const identifyingTags = new Set(meta("loupe-identifying").split(" ").filter(Boolean));
export const dicomweb = `${root}/dicom-web`;

export class HTTPError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function failure(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    message = (await response.json()).error?.message ?? message;
  } catch {
    // not JSON: keep the status line
  }
  if (response.status === 401) location.assign(`${root}/login?next=${encodeURIComponent(location.pathname + location.search)}`);
  return new HTTPError(response.status, message);
}

/// GET a JSON answer (also DICOM JSON); `signal` cancels an outdated request.
export async function getJSON(path, { params, signal, accept = "application/json" } = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(params ?? {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.append(key, value);
  }
  const response = await fetch(url, { headers: { Accept: accept }, credentials: "same-origin", signal });
  if (!response.ok) throw await failure(response);
  return { body: response.status === 204 ? null : await response.json(), headers: response.headers };
}

export const qido = (path, params, signal) => getJSON(`${dicomweb}${path}`, { params, signal, accept: "application/dicom+json" });

/// POST (JSON, a form, or raw bytes) with the session's CSRF token.
export async function post(path, body, contentType) {
  const headers = { Accept: "application/json", "X-CSRF-Token": csrf };
  if (contentType) headers["Content-Type"] = contentType;
  let payload = body;
  if (body !== undefined && !(body instanceof FormData) && !(body instanceof Blob) && !contentType) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(`${root}${path}`, { method: "POST", headers, body: payload, credentials: "same-origin" });
  if (!response.ok) throw await failure(response);
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

// ---- DICOM JSON (PS3.18 F)

export const tags = {
  PatientName: "00100010", PatientID: "00100020", PatientBirthDate: "00100030", PatientSex: "00100040",
  StudyInstanceUID: "0020000D", StudyDate: "00080020", StudyTime: "00080030", StudyDescription: "00081030",
  AccessionNumber: "00080050", ModalitiesInStudy: "00080061", NumberOfStudyRelatedSeries: "00201206",
  NumberOfStudyRelatedInstances: "00201208", SeriesInstanceUID: "0020000E", Modality: "00080060",
  SeriesNumber: "00200011", SeriesDescription: "0008103E", NumberOfSeriesRelatedInstances: "00201209",
  SOPInstanceUID: "00080018", SOPClassUID: "00080016", InstanceNumber: "00200013", Rows: "00280010",
  Columns: "00280011", BitsAllocated: "00280100", BitsStored: "00280101", PixelRepresentation: "00280103",
  SamplesPerPixel: "00280002", PhotometricInterpretation: "00280004", PlanarConfiguration: "00280006",
  NumberOfFrames: "00280008", RescaleSlope: "00281053", RescaleIntercept: "00281052", WindowCenter: "00281050",
  WindowWidth: "00281051", SliceLocation: "00201041", BodyPartExamined: "00180015",
};

/// All values of an attribute (a keyword of `tags`, or a tag).
export function values(item, name) {
  return item?.[tags[name] ?? name]?.Value ?? [];
}

/// A person name as people read it: each of its forms (alphabetic, ideographic, phonetic, as DICOM
/// separates them with "=") as "Family, Given".
export function personName(groups) {
  const forms = typeof groups === "string" ? groups.split("=") : [groups.Alphabetic ?? "", groups.Ideographic ?? "", groups.Phonetic ?? ""];
  while (forms.length > 1 && !forms.at(-1)) forms.pop();
  return forms.map((form) => {
    const [family = "", given = ""] = form.split("^");
    return given ? `${family}, ${given}` : family;
  }).join("=");
}

/// The first value as text (a person name as `personName` writes it).
export function text(item, name) {
  const value = values(item, name)[0];
  if (value === undefined || value === null) return "";
  if (typeof value === "object" && ("Alphabetic" in value || "Ideographic" in value || "Phonetic" in value)) return personName(value);
  return String(value);
}

export function number(item, name, fallback = undefined) {
  const value = Number(values(item, name)[0]);
  return Number.isFinite(value) ? value : fallback;
}

/// YYYYMMDD as YYYY-MM-DD.
export const date = (value) => (value && value.length === 8 ? `${value.slice(0, 4)}-${value.slice(4, 6)}-${value.slice(6)}` : value ?? "");

// ---- DOM: text only

/// An element with attributes and children (strings become text nodes).
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function say(message) {
  const status = document.getElementById("status");
  if (status) status.textContent = message;
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/// A thumbnail image that fills in when the server has one (it may still be deriving).
export function thumbnail(url, label, size = 128) {
  const image = el("img", { src: url, alt: label, loading: "lazy", width: size, height: size, class: "thumb" });
  image.addEventListener("error", () => image.classList.add("missing"), { once: true });
  return image;
}

export const instanceURL = (study, series, instance) =>
  `${dicomweb}/studies/${encodeURIComponent(study)}/series/${encodeURIComponent(series)}/instances/${encodeURIComponent(instance)}`;
