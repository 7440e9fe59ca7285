"""Verification (C-ECHO) and association acceptance policy (called and calling AE titles,
association limit, ACSE timeout)."""

import socket
import subprocess
import time

from conftest import write_yaml
from loupe_support import ECHOSCU, FINDSCU, HOST, run


def test_echo_succeeds(loupe):
    result = loupe.echo()
    assert result.returncode == 0, str(result)
    assert "Rejected" not in result.output, str(result)


def test_echo_with_wrong_called_ae_is_rejected(loupe):
    result = loupe.echo(aec="WRONG")
    assert result.returncode != 0, f"association with called AE WRONG was accepted:\n{result}"
    assert "Association Rejected" in result.output, str(result)
    assert "Called AE Title Not Recognized" in result.output, str(result)
    # The node still serves callers that address it correctly.
    assert loupe.echo().returncode == 0


def test_loupe_echo_command_reaches_peers(loupe, loupe_bin, storescp):
    """`loupe echo` (Loupe as SCU) against the storescp destination and against Loupe itself."""
    for target in (storescp.address, loupe.address):
        result = run([loupe_bin, "echo", target], timeout=60)
        assert result.returncode == 0, f"loupe echo {target}\n{result}"
    result = run([loupe_bin, "echo", f"WRONG@{HOST}:{loupe.port}"], timeout=60)
    assert result.returncode != 0, f"loupe echo with a wrong called AE succeeded\n{result}"


def test_allowed_callers_reject_other_calling_aes(loupe_factory, work):
    config = write_yaml(work / "allowed-callers.yaml", f"""\
dimse:
  require_called_ae_title: true
  allowed_callers:
    - {{ ae: GOODSCU, host: {HOST} }}
""")
    node = loupe_factory("loupe-callers", config=config)
    allowed = node.echo(aet="GOODSCU")
    assert allowed.returncode == 0, str(allowed)

    refused = node.echo(aet="BADSCU")
    assert refused.returncode != 0, f"calling AE BADSCU was accepted:\n{refused}"
    assert "Association Rejected" in refused.output, str(refused)
    assert "Calling AE Title Not Recognized" in refused.output, str(refused)

    # Not only C-ECHO: any association from another calling AE is refused.
    find = run([FINDSCU, "-S", "-aet", "OTHERSCU", "-aec", node.ae, "-k", "QueryRetrieveLevel=STUDY",
                "-k", "StudyInstanceUID", HOST, node.port])
    assert find.returncode != 0 and "Association Rejected" in find.output, str(find)

    # The called AE title is still checked for allowed callers.
    wrong_called = run([ECHOSCU, "-aet", "GOODSCU", "-aec", "WRONG", HOST, node.port])
    assert wrong_called.returncode != 0, str(wrong_called)
    assert "Called AE Title Not Recognized" in wrong_called.output, str(wrong_called)


def test_called_ae_not_required_when_configured_off(loupe_factory, work):
    config = write_yaml(work / "any-called-ae.yaml", "dimse:\n  require_called_ae_title: false\n")
    node = loupe_factory("loupe-anycalled", config=config)
    result = node.echo(aec="ANY-SCP")
    assert result.returncode == 0, str(result)


def test_association_limit_rejects_extra_associations(loupe_factory, work):
    """With max_associations: 1, a second association while the first is open is rejected as a
    transient condition (A-ASSOCIATE-RJ, rejected-transient); it is accepted again once the first ends."""
    config = write_yaml(work / "one-association.yaml", "dimse:\n  max_associations: 1\n")
    node = loupe_factory("loupe-limit", config=config)
    # echoscu --repeat keeps one association open while it sends its C-ECHOs one after another.
    log_path = work / "holder-echoscu.log"
    with open(log_path, "wb") as log:
        holder = subprocess.Popen([ECHOSCU, "-v", "-aec", node.ae, "--repeat", "400", HOST, str(node.port)],
                                  stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 15
        while "Association Accepted" not in log_path.read_text(errors="replace"):
            assert holder.poll() is None and time.monotonic() < deadline, log_path.read_text(errors="replace")
            time.sleep(0.05)
        second = node.echo()
        assert holder.poll() is None, "the first association ended during the test: nothing was tested"
        assert second.returncode != 0, f"a second association was accepted:\n{second}"
        assert "Association Rejected" in second.output and "Transient" in second.output, str(second)
    finally:
        holder.kill()       # our own child, by its handle
        holder.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if node.echo().returncode == 0:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("no association accepted after the first one ended\n" + node.log_tail())


def test_idle_connection_is_closed_after_acse_timeout(loupe_factory, work):
    """A peer that connects and never sends A-ASSOCIATE-RQ is dropped after acse_timeout."""
    config = write_yaml(work / "acse-timeout.yaml", "dimse:\n  acse_timeout: 2\n")
    node = loupe_factory("loupe-acse", config=config)
    started = time.monotonic()
    with socket.create_connection((HOST, node.port), timeout=15) as s:
        s.settimeout(15)
        try:
            data = s.recv(1024)
        except (ConnectionResetError, socket.timeout) as e:
            data = e
    elapsed = time.monotonic() - started
    assert not isinstance(data, socket.timeout), "the idle connection was still open after 15 s"
    assert elapsed < 10, f"closed only after {elapsed:.1f}s"
    assert node.echo().returncode == 0
