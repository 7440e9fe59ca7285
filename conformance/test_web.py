"""Issue 16: Loupe's own screens, in a real browser (headless Chromium driven by Selenium) against a
running node: log in; find a study by typing; the viewer draws and its pixels change with the window;
scrolling; similar images and a search by upload; the anomaly review queue; the flush watch turning a
tile red without a reload and the acknowledgement recorded; the lesion check; a hostile PatientName
shown as text; a nurse kept out of the admin screen; the admin screen's C-ECHO. Each screen's
screenshot is kept under conformance/.work/screens (LOUPE_SCREENSHOTS)."""

import io
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from browser_support import canvas_pixels, chromium, console_errors, log_in, log_out, screenshot, texts, wait_for
from conftest import write_yaml
from dicomweb_support import session, wait_for_derivations
from photo_support import encode, irregular_lesion, post_photo, skin_photo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts" / "data"))
sys.path.insert(0, str(REPO / "scripts" / "classifier"))
import phantoms  # noqa: E402  scripts/data/phantoms.py
import samples  # noqa: E402  scripts/classifier/samples.py

XSS = "<img src=x onerror=alert(1)>"
USERS = {"radiologist": ("dr-web", "radiology-pass-1"), "nurse": ("nurse-web", "ward-seven-pass"),
         "clinician": ("derm-web", "dermatology-pass"), "admin": ("admin-web", "admin-pass-long"),
         "researcher": ("research-web", "research-pass-1")}


def dicom_file(path: Path, ds) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def xss_instance(directory: Path) -> Path:
    """pydicom's CT_small as a new instance of a patient whose name is markup."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName, ds.PatientID = XSS, "XSS-1"
    ds.StudyDescription = "<script>alert(2)</script>"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid(), generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return dicom_file(directory / "xss.dcm", ds)


def monochrome1_instance(directory: Path) -> Path:
    """pydicom's CT_small said to be MONOCHROME1 (the minimum is white), as a new instance."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid(), generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return dicom_file(directory / "monochrome1.dcm", ds)


def flagged_instance(directory: Path) -> Path:
    """A CT with an error dialog drawn over it: the anomaly screen flags it (test_anomaly.py)."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    a = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    image = Image.fromarray(samples.window8(a, 40, 400)).resize((384, 384), Image.BILINEAR).convert("RGB")
    samples.dialog(image, np.random.default_rng(7077), "light")
    path = directory / "flagged.dcm"
    samples.write({"pixels": np.asarray(image), "modality": "CT", "window": None}, str(path), "conformance|web-flagged")
    ds = pydicom.dcmread(path)
    ds.PatientID, ds.PatientName = "FLAG-WEB", "Flagged^Image"
    return dicom_file(path, ds)


@pytest.fixture(scope="module")
def screens(loupe_factory, storescp, tmp_path_factory):
    work = tmp_path_factory.mktemp("screens")
    config = write_yaml(work / "loupe.yaml", "flush:\n  mild: 4\n  marked: 10\n")
    node = loupe_factory("screens", config=config, peers={"STORESCP": storescp.address}, start=False)
    for role, (name, password) in USERS.items():
        result = node.cli("user", "add", name, "--role", role, "--password-stdin", stdin=password + "\n")
        assert result.returncode == 0, result.stderr
    node.start()
    camera = node.create_token("bedside-camera", "camera")
    records = phantoms.generate(work / "phantoms", 1, 24, 512, 16, labels=["CT CHEST"], progress=lambda _: None)
    records += phantoms.generate(work / "phantoms", 1, 6, 256, 16, labels=["MR BRAIN", "CR HAND"], progress=lambda _: None)
    extra = [xss_instance(work), flagged_instance(work), monochrome1_instance(work), Path(get_testdata_file("examples_rgb_color.dcm"))]
    files = [work / "phantoms" / r["file"] for r in records] + extra
    sent = node.send(files)
    assert sent.returncode == 0, sent.output
    base = node.http_url
    wait_for_derivations(base, timeout=900)
    ct = [r for r in records if r["label"] == "CT CHEST"]
    flagged = pydicom.dcmread(work / "flagged.dcm")
    verdict = [f for f in session().get(f"{base}/api/instances/{flagged.SOPInstanceUID}/analysis", timeout=10).json()["findings"]
               if f["kind"] == "anomaly"]
    assert verdict and verdict[0]["label"] == "invalid", verdict
    return SimpleNamespace(node=node, base=base, camera=camera, work=work, ct_study=ct[0]["study"], ct_series=ct[0]["series"],
                           extra=[pydicom.dcmread(path, stop_before_pixels=True) for path in extra],
                           ct_sops=[r["sop"] for r in ct], mr=[r for r in records if r["label"] == "MR BRAIN"],
                           flagged=str(flagged.SOPInstanceUID), flagged_study=str(flagged.StudyInstanceUID))


@pytest.fixture(scope="module")
def browser():
    driver = chromium()
    yield driver
    driver.quit()


@pytest.fixture
def as_user(browser, screens):
    """Signs the browser in as the user of a role (fresh cookies each time)."""
    def sign_in(role: str, path: str = "/"):
        log_out(browser)
        name, password = USERS[role]
        log_in(browser, screens.base, name, password, path)
        return browser
    return sign_in


def study_rows(driver) -> list:
    return driver.find_elements(By.CSS_SELECTOR, "#studies tbody tr")


def test_log_in_and_find_a_study_by_typing(as_user, screens):
    driver = as_user("radiologist")
    wait_for(lambda: len(study_rows(driver)) >= 4, what="the study list")
    wait_for(lambda: "studies" in driver.find_element(By.ID, "count").text)
    screenshot(driver, "studies")
    box = driver.find_element(By.ID, "f-patient")
    box.send_keys("phant")
    wait_for(lambda: study_rows(driver) and all("PHANTOM" in row.text for row in study_rows(driver)), what="rows narrowed to the phantoms")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("ctchest")   # part of PHANTOM^CTCHEST000
    wait_for(lambda: len(study_rows(driver)) == 1 and "CTCHEST" in study_rows(driver)[0].text, what="one study left")
    assert "1 study" in driver.find_element(By.ID, "count").text
    study_rows(driver)[0].find_element(By.CSS_SELECTOR, "td a").click()
    wait_for(lambda: f"/studies/{screens.ct_study}" in driver.current_url, what="the study page")
    assert not console_errors(driver)


def wait_for_image(driver, position: str) -> dict:
    wait_for(lambda: driver.find_element(By.ID, "position").text == position, what=f"'{position}'")
    return wait_for(lambda: (p := canvas_pixels(driver)) and p["spread"] > 5 and p, what="a drawn image")


def test_the_viewer_draws_windows_and_scrolls(as_user, screens):
    driver = as_user("radiologist", f"/studies/{screens.ct_study}")
    wait_for_image(driver, "Image 1 of 24")
    assert "CT CHEST" in driver.find_element(By.ID, "series").text
    wait_for(lambda: "Valid medical image" in driver.find_element(By.ID, "finding").text, what="the anomaly finding")
    wait_for(lambda: driver.execute_script("return [...document.querySelectorAll('#derived img, #series img')].every(i => i.complete)"),
             what="the derived PNG and the series thumbnail")
    screenshot(driver, "study")
    # Dragging changes the window, and so the pixels.
    first = canvas_pixels(driver)
    canvas = driver.find_element(By.ID, "image")
    readout = driver.find_element(By.ID, "window-readout").text
    ActionChains(driver).move_to_element(canvas).click_and_hold().move_by_offset(120, -80).release().perform()
    dragged = wait_for(lambda: (p := canvas_pixels(driver)) and abs(p["mean"] - first["mean"]) > 1 and p, what="new pixels after the drag")
    assert driver.find_element(By.ID, "window-readout").text != readout
    # A preset, then the next image with the arrow key.
    driver.find_element(By.CSS_SELECTOR, "#preset option[value='-600,1500']").click()
    wait_for(lambda: driver.find_element(By.ID, "window-readout").text == "W 1500 L -600", what="the lung preset")
    canvas.send_keys(Keys.ARROW_DOWN)
    second = wait_for_image(driver, "Image 2 of 24")
    assert second["checksum"] != dragged["checksum"]
    # The tags and the download are of the image shown.
    assert screens.ct_sops[1] in driver.find_element(By.ID, "tags").get_attribute("textContent")
    assert screens.ct_sops[1] in driver.find_element(By.ID, "download").get_attribute("href")
    canvas.send_keys(Keys.END)
    wait_for_image(driver, "Image 24 of 24")
    assert not console_errors(driver)


def test_without_phi_the_study_page_names_no_patient(as_user, screens):
    """A researcher (no phi) sees the study and its images, the patient only by ID: not in the header,
    not in the viewer's tag table."""
    driver = as_user("researcher", f"/studies/{screens.ct_study}")
    wait_for_image(driver, "Image 1 of 24")
    wait_for(lambda: screens.ct_sops[0] in driver.find_element(By.ID, "tags").get_attribute("textContent"), what="the tags")
    shown = driver.find_element(By.TAG_NAME, "main").get_attribute("textContent") + driver.title
    assert "PHANTOM^" not in shown, shown
    assert driver.find_element(By.CSS_SELECTOR, "#study-patient a").text.strip()  # the patient, by ID
    assert not console_errors(driver)


# In the page: the viewer's own decode and paint of one frame, at its size, as base64 RGBA.
PAINT_JS = """
const [instance, center, width, done] = arguments;
(async () => {
  const viewer = await import('/static/js/viewer.js');
  const metadata = await (await fetch(instance + '/metadata', {headers: {Accept: 'application/dicom+json'}})).json();
  const item = metadata[0];
  const response = await fetch(instance + '/frames/1', {headers: {Accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1'}});
  const bytes = new Uint8Array(await response.arrayBuffer());
  const type = response.headers.get('Content-Type'), boundary = /boundary="?([^";]+)"?/.exec(type)[1];
  const text = new TextDecoder('latin1').decode(bytes);
  const start = text.indexOf('\\r\\n\\r\\n') + 4, end = text.indexOf('\\r\\n--' + boundary, start);
  const frame = viewer.decode(bytes.subarray(start, end), item);
  const window = center === null ? viewer.defaultWindow(item, frame) : {center, width};
  const image = viewer.paint(frame, window, new ImageData(frame.columns, frame.rows));
  let binary = '';
  for (let i = 0; i < image.data.length; i += 8192) binary += String.fromCharCode(...image.data.subarray(i, i + 8192));
  done({rgba: btoa(binary), columns: frame.columns, rows: frame.rows, window});
})().catch((error) => done({error: String(error)}));
"""


def test_the_viewer_windows_as_the_server_renders(as_user, screens):
    """The viewer's pixels of signed CT, unsigned MR, MONOCHROME1 and RGB images, with their own window
    and with another, are DCMTK's rendering of the same window (the /rendered PNG) to within 1 level."""
    import base64
    driver = as_user("radiologist")
    ct, mr = screens.ct_sops[3], screens.mr[1]["sop"]
    cases = [(screens.ct_study, ct, None), (screens.ct_study, ct, (-600, 1500)), (None, mr, None), (None, mr, (300, 500))]
    cases += [(str(ds.StudyInstanceUID), str(ds.SOPInstanceUID), None) for ds in screens.extra if ds.PatientID != "FLAG-WEB"]
    for study, sop, window in cases:
        found = session().get(f"{screens.base}/dicom-web/instances", params={"SOPInstanceUID": sop}, timeout=10).json()[0]
        url = found["00081190"]["Value"][0]
        painted = driver.execute_async_script(PAINT_JS, url, *(window or (None, None)))
        assert "error" not in painted, painted
        mine = np.frombuffer(base64.b64decode(painted["rgba"]), np.uint8).reshape(painted["rows"], painted["columns"], 4)[..., :3]
        centre, width = painted["window"]["center"], painted["window"]["width"]
        params = {"window": f"{centre},{width},linear"} if found.get("00280002", {}).get("Value", [1])[0] == 1 else {}
        png = session().get(f"{url}/rendered", params=params, headers={"Accept": "image/png"}, timeout=30)
        assert png.status_code == 200, png.text
        theirs = np.asarray(Image.open(io.BytesIO(png.content)).convert("RGB"))
        assert theirs.shape == mine.shape, (sop, theirs.shape, mine.shape)
        difference = np.abs(theirs.astype(int) - mine.astype(int))
        assert difference.max() <= 1, (sop, window, int(difference.max()), float((difference > 1).mean()))


def test_similar_images_lead_to_a_study(as_user, screens):
    query = screens.ct_sops[5]
    driver = as_user("radiologist", f"/similar?instance={query}")
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#results li")) >= 5, what="similar images")
    results = driver.find_elements(By.CSS_SELECTOR, "#results li")
    assert query not in [r.get_attribute("data-instance") for r in results]
    scores = [float(s.text.rstrip(" %")) for s in driver.find_elements(By.CSS_SELECTOR, "#results .score")]
    assert scores == sorted(scores, reverse=True)
    # The nearest images of a CT chest slice are its neighbours.
    assert results[0].get_attribute("data-instance") in screens.ct_sops
    wait_for(lambda: driver.execute_script("return [...document.querySelectorAll('#results img')].every(i => i.complete && i.naturalWidth > 0)"),
             what="the thumbnails")
    screenshot(driver, "similar")
    driver.find_element(By.CSS_SELECTOR, "#filters input[name='other-patients']").click()
    wait_for(lambda: all(r.get_attribute("data-instance") not in screens.ct_sops for r in driver.find_elements(By.CSS_SELECTOR, "#results li")),
             what="other patients only")
    first = driver.find_element(By.CSS_SELECTOR, "#results li")
    opened = first.get_attribute("data-instance")
    first.find_element(By.CSS_SELECTOR, "a.open").click()
    wait_for(lambda: "/studies/" in driver.current_url, what="the result's study")
    wait_for(lambda: opened in driver.find_element(By.ID, "tags").get_attribute("textContent"), what="the result's image in the viewer")


def test_an_uploaded_image_finds_its_instance(as_user, screens):
    uid = screens.mr[2]["sop"]
    png = session().get(f"{screens.base}/api/derived/{uid}.png", timeout=30)
    assert png.status_code == 200
    path = screens.work / "query.png"
    path.write_bytes(png.content)
    driver = as_user("radiologist", "/similar")
    driver.find_element(By.ID, "file").send_keys(str(path))
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#results li"), what="results for the upload")
    assert driver.find_element(By.CSS_SELECTOR, "#results li").get_attribute("data-instance") == uid
    assert "query.png" in driver.find_element(By.ID, "query").text
    screenshot(driver, "similar-upload")


def test_a_flagged_image_leaves_the_review_queue_when_marked(as_user, screens):
    driver = as_user("radiologist", "/review")
    item = f"#queue li[data-instance='{screens.flagged}']"
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, item), what="the flagged image in the queue")
    left = driver.find_element(By.ID, "count").text
    assert "left to review" in left
    screenshot(driver, "review")
    driver.find_element(By.CSS_SELECTOR, f"{item} button[data-verdict='false-alarm']").click()
    wait_for(lambda: not driver.find_elements(By.CSS_SELECTOR, item), what="the image leaving the queue")
    assert driver.find_element(By.ID, "count").text != left
    page = session().get(f"{screens.base}/api/findings", params={"kind": "anomaly", "reviewed": "true"}, timeout=10).json()
    (reviewed,) = [i for i in page["items"] if i["SOPInstanceUID"] == screens.flagged]
    assert reviewed["review"]["verdict"] == "false-alarm" and reviewed["review"]["reviewer"] == USERS["radiologist"][0]
    # Still gone after a reload; shown with its verdict among the reviewed.
    driver.refresh()
    wait_for(lambda: driver.find_element(By.ID, "count").text, what="the queue")
    assert not driver.find_elements(By.CSS_SELECTOR, item)
    driver.find_element(By.ID, "show-done").click()
    wait_for(lambda: "False alarm by dr-web" in driver.find_element(By.CSS_SELECTOR, item).text, what="the verdict shown")


def photo(base: str, token: str, redness: float, patient="BED-12", baseline=False) -> dict:
    metadata = {"PatientID": patient, "PatientName": "Ward^Patient", "kind": "flush", "Baseline": baseline}
    s = session()
    s.headers["Authorization"] = f"Bearer {token}"
    files = {"image": ("photo.jpg", encode(skin_photo(redness=redness, seed=int(redness * 10))), "image/jpeg"),
             "metadata": ("metadata.json", json.dumps(metadata), "application/json")}
    response = s.post(f"{base}/api/photos", files=files, timeout=60)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_flush_turns_its_tile_red_within_two_seconds_and_is_acknowledged(as_user, screens):
    photo(screens.base, screens.camera, 0.0, baseline=True)
    wait_for_derivations(screens.base)
    driver = as_user("nurse", "/ward")
    tile = "#tiles li[data-patient='BED-12']"
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, tile), what="the patient's tile")
    wait_for(lambda: "Live" in driver.find_element(By.ID, "connection").text, what="the event stream")
    assert "alert" not in driver.find_element(By.CSS_SELECTOR, tile).get_attribute("class")
    started = time.monotonic()
    photo(screens.base, screens.camera, 1.0)
    wait_for(lambda: "alert" in driver.find_element(By.CSS_SELECTOR, tile).get_attribute("class"), timeout=10, interval=0.02,
             what="the tile turning red")
    red_after = time.monotonic() - started
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, f"{tile} button.acknowledge"), what="the acknowledge button")
    screenshot(driver, "ward")
    assert red_after <= 2.0, f"the tile turned red {red_after:.2f} s after the photo was posted"
    assert "marked" in driver.find_element(By.CSS_SELECTOR, f"{tile} .alerting").text
    # The alarm sounded (the test's browser allows sound without a touch, as a ward's kiosk browser can).
    assert driver.find_element(By.ID, "tiles").get_attribute("data-alarms") == "1"
    assert driver.find_element(By.ID, "sound").text == "Sound on"
    driver.find_element(By.CSS_SELECTOR, f"{tile} button.acknowledge").click()
    wait_for(lambda: "alert" not in driver.find_element(By.CSS_SELECTOR, tile).get_attribute("class"), what="the tile calming down")
    assert "acknowledged by nurse-web" in driver.find_element(By.CSS_SELECTOR, tile).text
    episode = session().get(f"{screens.base}/api/ward", params={"PatientID": "BED-12"}, timeout=10).json()["episodes"][0]
    assert episode["alerts"][-1]["acknowledgedBy"] == "nurse-web" and episode["alerts"][-1]["acknowledged"]
    # The patient's episode page: the chart of the day and every photo.
    driver.find_element(By.CSS_SELECTOR, f"{tile} h2 a").click()
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#photos li")) == 2, what="the episode's photos")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#chart circle")) == 2
    assert "acknowledged by nurse-web" in driver.find_element(By.ID, "alerts").text
    screenshot(driver, "episode")
    assert not console_errors(driver)


def test_the_lesion_check_shows_outline_score_and_similar_lesions(as_user, screens):
    # Another patient's lesion photo, already analysed: the one the check finds most similar.
    earlier = post_photo(screens.base, encode(irregular_lesion(seed=4), "PNG"), {"PatientID": "DERM-1", "PatientName": "Other^Olga",
                                                                                 "kind": "lesion", "PixelSpacing": 0.1}, "image/png")
    assert earlier.status_code == 201, earlier.text
    wait_for_derivations(screens.base)
    driver = as_user("clinician", "/lesion")
    path = screens.work / "lesion.png"
    Image.fromarray(irregular_lesion(seed=3)).save(path)
    form = driver.find_element(By.ID, "lesion-form")
    form.find_element(By.NAME, "PatientID").send_keys("DERM-7")
    form.find_element(By.NAME, "PatientName").send_keys("Skin^Sam")
    form.find_element(By.NAME, "BodySite").send_keys("left forearm")
    form.find_element(By.NAME, "PixelSpacing").send_keys("0.1")
    form.find_element(By.NAME, "image").send_keys(str(path))
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: driver.find_elements(By.ID, "tds"), timeout=60, what="the dermoscopy score")
    assert float(driver.find_element(By.ID, "tds").text) > 5.45
    assert "high" in driver.find_element(By.CSS_SELECTOR, ".band").text
    assert "Rule-based score, not a diagnosis" in driver.find_element(By.TAG_NAME, "main").text
    points = driver.find_element(By.CSS_SELECTOR, "#outline polygon").get_attribute("points").split()
    assert len(points) >= 32
    wait_for(lambda: driver.find_element(By.ID, "photo").get_attribute("naturalWidth") not in (None, "0"), what="the photo")
    similar = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#similar li strong"), what="the similar lesions")
    assert similar[0].text.endswith("%") and "DERM-1" in driver.find_element(By.ID, "similar").text
    screenshot(driver, "lesion")


def test_a_patient_name_with_markup_is_shown_as_text(as_user, screens):
    driver = as_user("radiologist")
    driver.find_element(By.ID, "f-patient").send_keys("XSS-1")
    wait_for(lambda: len(study_rows(driver)) == 1, what="the patient's study")
    row = study_rows(driver)[0]
    assert XSS in row.text and "<script>alert(2)</script>" in row.text
    assert not driver.find_elements(By.CSS_SELECTOR, "#studies img, #studies script")
    row.find_element(By.CSS_SELECTOR, "td a").click()
    wait_for_image(driver, "Image 1 of 1")
    assert XSS in driver.find_element(By.ID, "study-patient").text
    assert driver.title.startswith(XSS)
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text
    assert not driver.find_elements(By.CSS_SELECTOR, "main img[src='x']")
    screenshot(driver, "xss")


def test_a_patient_timeline_shows_studies_photos_and_findings(as_user, screens):
    driver = as_user("radiologist", "/patients/FLAG-WEB")
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#timeline > li"), what="the timeline")
    assert driver.find_element(By.ID, "name").text == "Flagged, Image"
    assert "anomaly: invalid" in driver.find_element(By.ID, "timeline").text
    driver.get(f"{screens.base}/patients/BED-12")
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#timeline .strip img"), what="the photos on the timeline")
    assert "flush: marked" in driver.find_element(By.ID, "timeline").text
    screenshot(driver, "patient")


def test_a_nurse_cannot_open_the_admin_screen(as_user, screens):
    driver = as_user("nurse", "/ward")
    assert not driver.find_elements(By.CSS_SELECTOR, "nav a[href='/admin']")
    driver.get(f"{screens.base}/admin")
    assert "needs the permission admin" in driver.find_element(By.TAG_NAME, "body").text
    assert not driver.find_elements(By.ID, "counts")
    # Nor the studies of other patients than photographed ones.
    driver.get(f"{screens.base}/studies/{screens.ct_study}")
    assert "clinical photographs only" in driver.find_element(By.TAG_NAME, "body").text


def test_the_admin_screen_echoes_peers_and_shows_the_trail(as_user, screens):
    driver = as_user("admin", "/admin")
    wait_for(lambda: "Images" in driver.find_element(By.ID, "counts").text, what="the counts")
    peer = "#peers tr[data-peer='STORESCP']"
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, peer), what="the peer")
    driver.find_element(By.CSS_SELECTOR, f"{peer} button").click()
    wait_for(lambda: "OK" in driver.find_element(By.CSS_SELECTOR, f"{peer} .echo-result").text, timeout=30, what="the C-ECHO")
    wait_for(lambda: "nurse-web" in driver.find_element(By.ID, "users").text, what="the users")
    wait_for(lambda: "alert-acknowledged" in driver.find_element(By.ID, "audit").text or
             "finding-reviewed" in driver.find_element(By.ID, "audit").text, what="the audit trail")
    filter_box = driver.find_element(By.CSS_SELECTOR, "#audit-filter input[name='user']")
    filter_box.send_keys("nurse-web")
    wait_for(lambda: (rows := texts(driver, "#audit tbody tr")) and all("nurse-web" in r for r in rows), what="the filtered trail")
    screenshot(driver, "admin")
    assert not console_errors(driver)
