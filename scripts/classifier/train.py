"""Trains Loupe's anomaly classifier and writes its parameters (committed) with the command, seed
and measurements that produced them.

    make train-classifier                  # = python3 scripts/classifier/train.py
    python3 scripts/classifier/train.py --scale 0.2 --out /tmp/classifier.json   # a quick run

1. samples.py draws the training set (valid images, overlays, non-medical images, blank frames) as
   DICOM files, split by source into train / validation / test, plus the held-out generators and
   sources ("unseen") that are never trained on.
2. `loupe classify --features` computes, for every file, every input the node's pipeline can feed the
   classifier (AnomalyClassifier.Input): the EfficientNet-Lite0 embedding of the image's view, its pixel
   statistics, the network's ImageNet log-probabilities and the length of its pooled features.
3. A network of one hidden ReLU layer (--hidden 32; 0: a softmax regression) on the standardised
   inputs chosen with --inputs, class-balanced, fitted with L-BFGS (scipy); L2 chosen on the
   validation split with one network, then --ensemble 3 networks from different initial weights fitted
   on train and validation together, their logits averaged (stored as one network, side by side).
4. Reports accuracy, precision, recall and F1 of the invalid class and the confusion matrices on the
   test split and on the unseen sources; writes Sources/Classifier/Resources/anomaly-classifier.json.
"""

import argparse
import datetime
import json
import multiprocessing
import os
import shlex
import subprocess
import sys
import time

import numpy as np
from scipy.optimize import minimize

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import samples  # noqa: E402

DEFAULT_OUT = os.path.join(REPO, "Sources", "Classifier", "Resources", "anomaly-classifier.json")
EMBEDDING_MODEL = "efficientnet-lite0/imagenet"
EMBEDDING_DIMENSION = 1280
# Classifier.ImageStatistics.names: the pixel statistics of an image's view.
STATISTICS = ["meanLuminance", "luminanceSpread", "darkFraction", "brightFraction", "entropy", "levelsUsed",
              "meanChroma", "colourfulFraction", "meanGradient", "meanLaplacian", "flatFraction", "edgeFraction",
              "horizontalLines", "verticalLines", "longestHorizontalLine", "longestVerticalLine",
              "panelFraction", "panels", "innerPanelFraction", "innerPanelFill", "innerPanel"]
# What `loupe classify --features` prints, in order (AnomalyClassifier.Input), and the widths.
INPUTS = {"embedding": EMBEDDING_DIMENSION, "statistics": len(STATISTICS), "imagenet-log-probabilities": 1000, "feature-norm": 1}
DEFAULT_INPUTS = "statistics,imagenet-log-probabilities,feature-norm"


def columns(inputs):
    """The feature columns of the named inputs (in INPUTS order)."""
    out, offset = [], 0
    for name, width in INPUTS.items():
        if name in inputs:
            out.extend(range(offset, offset + width))
        offset += width
    return np.array(out)


def log(message):
    print(message, flush=True)


def plan(scale):
    """Every (generator, source, index) to draw."""
    jobs = []
    for name, (cls, per_source, sources, _) in samples.generators(scale).items():
        for source in sources:
            for index in range(per_source):
                jobs.append((name, source, index))
    return jobs


def draw_job(job):
    name, source, index, seed, directory = job
    cls, sample = samples.draw(name, source, index, seed)
    split = samples.split_of(source, name)
    safe = source.replace(":", "_").replace(" ", "_").replace("/", "_")
    path = os.path.join(directory, split, cls, name, f"{safe}-{index}.dcm")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    samples.write(sample, path, f"{name}|{source}|{index}|{seed}")
    return {"file": os.path.relpath(path, directory), "class": cls, "generator": name, "source": source, "split": split}


def generate(directory, scale, seed, workers):
    manifest = os.path.join(directory, "manifest.json")
    if os.path.exists(manifest):
        log(f"  samples: reusing {os.path.relpath(directory, REPO)}")
        with open(manifest) as f:
            return json.load(f)
    jobs = [(name, source, index, seed, directory) for name, source, index in plan(scale)]
    log(f"  samples: drawing {len(jobs)} images with {workers} processes -> {os.path.relpath(directory, REPO)}")
    start = time.time()
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        records = pool.map(draw_job, jobs, chunksize=16)
    log(f"  samples: {time.time() - start:.0f} s")
    with open(manifest, "w") as f:
        json.dump(records, f)
    return records


def features(directory, records, loupe, model, jobs):
    cache = os.path.join(directory, "features.npy")
    if os.path.exists(cache):
        log("  features: reusing the cache")
        return np.load(cache)
    start = time.time()
    command = [loupe, "classify", "--features", "--jobs", str(jobs), "--data", os.path.join(directory, "loupe-data")]
    if model:
        command += ["--model", model]
    command += [os.path.join(directory, split) for split in ("train", "validation", "test", "unseen")
                if os.path.isdir(os.path.join(directory, split))]
    log(f"  features: {' '.join(shlex.quote(c) for c in command[:6])} … ({len(records)} files)")
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    out = result.stdout
    if result.returncode != 0 and not out:
        raise SystemExit(f"loupe classify failed ({result.returncode}): {result.stderr[-2000:]}")
    by_file = {}
    for line in out.splitlines():
        row = json.loads(line)
        if "error" in row:
            raise SystemExit(f"cannot featurize {row['file']}: {row['error']}")
        by_file[os.path.relpath(row["file"], directory)] = row["features"]
    x = np.array([by_file[r["file"]] for r in records], dtype=np.float32)
    np.save(cache, x)
    log(f"  features: {x.shape[0]} x {x.shape[1]} in {time.time() - start:.0f} s")
    return x


# ---- the model --------------------------------------------------------------------------------

def unpack(theta, shapes):
    out, offset = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(theta[offset:offset + size].reshape(shape))
        offset += size
    return out


def forward(params, x):
    """Logits, and the hidden activations (for the gradient)."""
    if len(params) == 2:
        w, b = params
        return x @ w.T + b, None
    w1, b1, w2, b2 = params
    hidden = np.maximum(0, x @ w1.T + b1)
    return hidden @ w2.T + b2, hidden


def loss_and_gradient(theta, shapes, x, y, weights, l2):
    params = unpack(theta, shapes)
    logits, hidden = forward(params, x)
    logits = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    n = weights.sum()
    loss = -(weights * np.log(p[np.arange(len(y)), y] + 1e-12)).sum() / n
    d = p.copy()
    d[np.arange(len(y)), y] -= 1
    d *= weights[:, None] / n
    if hidden is None:
        w, _ = params
        grads = [d.T @ x + l2 * w, d.sum(axis=0)]
        loss += 0.5 * l2 * (w * w).sum()
    else:
        w1, b1, w2, b2 = params
        dh = (d @ w2) * (hidden > 0)
        grads = [dh.T @ x + l2 * w1, dh.sum(axis=0), d.T @ hidden + l2 * w2, d.sum(axis=0)]
        loss += 0.5 * l2 * ((w1 * w1).sum() + (w2 * w2).sum())
    return loss, np.concatenate([g.ravel() for g in grads])


def fit(x, y, classes, l2, hidden, seed):
    rng = np.random.default_rng(seed)
    d, k = x.shape[1], len(classes)
    shapes = [(k, d), (k,)] if not hidden else [(hidden, d), (hidden,), (k, hidden), (k,)]
    theta = np.concatenate([rng.normal(0, 0.01 if len(s) == 2 else 0, s).ravel() for s in shapes])
    # Balanced: valid weighs as much as all invalid classes together, which share the rest equally.
    counts = np.bincount(y, minlength=k).astype(np.float64)
    target = np.array([0.5] + [0.5 / (k - 1)] * (k - 1))
    weights = (target / np.maximum(counts, 1))[y] * len(y)
    result = minimize(loss_and_gradient, theta, args=(shapes, x, y, weights, l2), jac=True, method="L-BFGS-B",
                      options={"maxiter": 2000})
    return unpack(result.x, shapes)


def merge(nets):
    """Networks of one hidden layer as one wider network whose logits are their mean (their hidden
    units side by side, each output layer divided by their number)."""
    w1 = np.concatenate([n[0] for n in nets])
    b1 = np.concatenate([n[1] for n in nets])
    w2 = np.concatenate([n[2] for n in nets], axis=1) / len(nets)
    b2 = np.mean([n[3] for n in nets], axis=0)
    return [w1, b1, w2, b2]


def predict(params, x):
    logits, _ = forward(params, x)
    logits = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def metrics(p, y):
    """Binary (invalid = positive) and per-class results of probabilities p for labels y."""
    invalid_predicted = p[:, 0] < 0.5
    invalid_true = y != 0
    tp = int((invalid_predicted & invalid_true).sum())
    fp = int((invalid_predicted & ~invalid_true).sum())
    fn = int((~invalid_predicted & invalid_true).sum())
    tn = int((~invalid_predicted & ~invalid_true).sum())
    precision = tp / max(tp + fp, 1)
    recall = tp / max(tp + fn, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    # Predicted class: valid, or the most likely reason when invalid.
    predicted = np.where(invalid_predicted, 1 + np.argmax(p[:, 1:], axis=1), 0)
    k = p.shape[1]
    confusion = np.zeros((k, k), dtype=int)
    for t, q in zip(y, predicted):
        confusion[t, q] += 1
    return {"n": int(len(y)), "accuracy": (tp + tn) / max(len(y), 1), "precision": precision, "recall": recall, "f1": f1,
            "binary": {"tp": tp, "fp": fp, "fn": fn, "tn": tn}, "confusion": confusion.tolist(),
            "reason_accuracy": float((predicted == y).mean()) if len(y) else 0.0}


def report(title, m, classes):
    log(f"\n{title}: {m['n']} images")
    log(f"  invalid class: accuracy {m['accuracy']:.4f}  precision {m['precision']:.4f}  recall {m['recall']:.4f}  "
        f"F1 {m['f1']:.4f}  (class and reason right: {m['reason_accuracy']:.4f})")
    b = m["binary"]
    log(f"  binary confusion (rows true, columns predicted):   valid  invalid")
    log(f"    valid                                            {b['tn']:5d}  {b['fp']:7d}")
    log(f"    invalid                                          {b['fn']:5d}  {b['tp']:7d}")
    log("  by class (rows true, columns predicted): " + "  ".join(f"{c:>11}" for c in classes))
    for c, row in zip(classes, m["confusion"]):
        log(f"    {c:<38}" + "  ".join(f"{v:11d}" for v in row))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full sample counts")
    parser.add_argument("--hidden", type=int, default=32, help="hidden ReLU units (0: softmax regression)")
    parser.add_argument("--ensemble", type=int, default=3,
                        help="hidden-layer networks fitted from different initial weights, their logits averaged")
    parser.add_argument("--inputs", default=DEFAULT_INPUTS, help=f"what the classifier reads, of: {', '.join(INPUTS)}")
    parser.add_argument("--loupe", default=None, help="the loupe binary (default: .build/release/loupe, else .build/debug/loupe)")
    parser.add_argument("--model", default=None, help="EfficientNet-Lite0 weights (default: loupe's own default)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    parser.add_argument("--work", default=os.path.join(REPO, "scripts", "classifier", ".work"))
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args()
    inputs = [name for name in INPUTS if name in args.inputs.split(",")]
    if len(inputs) != len(args.inputs.split(",")) or not inputs:
        raise SystemExit(f"--inputs: choose from {', '.join(INPUTS)}")
    if args.ensemble < 1:
        raise SystemExit("--ensemble: at least one network")

    if not os.path.isdir(samples.OPENCV_DATA):
        raise SystemExit(f"no {samples.OPENCV_DATA}: install opencv-doc (scripts/install-deps.sh train)")
    loupe = args.loupe or next((p for p in (os.path.join(REPO, ".build", c, "loupe") for c in ("release", "debug"))
                                if os.path.exists(p)), None)
    if not loupe:
        raise SystemExit("no loupe binary: run `swift build -c release --product loupe` or pass --loupe")
    directory = os.path.join(args.work, f"v{samples.GENERATOR_VERSION}-scale{args.scale:g}-seed{args.seed}")
    os.makedirs(directory, exist_ok=True)
    log(f"anomaly classifier: seed {args.seed}, scale {args.scale:g}, generator version {samples.GENERATOR_VERSION}")
    records = generate(directory, args.scale, args.seed, args.jobs)
    x = features(directory, records, loupe, args.model, args.jobs)
    if x.shape[1] != sum(INPUTS.values()):
        raise SystemExit(f"{x.shape[1]} features per image, expected {sum(INPUTS.values())}: delete {directory}/features.npy")
    x = x[:, columns(inputs)]
    log(f"  inputs: {', '.join(inputs)} ({x.shape[1]} values)")
    classes = samples.CLASSES
    y = np.array([classes.index(r["class"]) for r in records])
    split = np.array([r["split"] for r in records])
    for name in ("train", "validation", "test", "unseen"):
        counts = np.bincount(y[split == name], minlength=len(classes))
        log(f"  {name:<10} " + "  ".join(f"{c} {n}" for c, n in zip(classes, counts)))

    train = split == "train"
    mean = x[train].mean(axis=0)
    scale = x[train].std(axis=0) + 1e-3
    z = (x - mean) / scale

    best = None
    for l2 in (1e-4, 1e-3, 1e-2, 1e-1):
        params = fit(z[train], y[train], classes, l2, args.hidden, args.seed)
        m = metrics(predict(params, z[split == "validation"]), y[split == "validation"])
        log(f"  L2 {l2:g}: validation F1 {m['f1']:.4f}, accuracy {m['accuracy']:.4f}")
        if best is None or m["f1"] > best[0]["f1"] + 1e-9:
            best = (m, l2)
    l2 = best[1]
    # The final model: train and validation together, at the chosen L2.
    fitted = (split == "train") | (split == "validation")
    mean = x[fitted].mean(axis=0)
    scale = x[fitted].std(axis=0) + 1e-3
    z = (x - mean) / scale
    if args.hidden and args.ensemble > 1:
        params = merge([fit(z[fitted], y[fitted], classes, l2, args.hidden, args.seed + k) for k in range(args.ensemble)])
    else:
        params = fit(z[fitted], y[fitted], classes, l2, args.hidden, args.seed)

    results = {}
    for name in ("test", "unseen"):
        mask = split == name
        results[name] = metrics(predict(params, z[mask]), y[mask])
        report(f"{name} split" if name == "test" else "unseen generators and sources (never trained on)", results[name], classes)
    unseen = split == "unseen"
    p_unseen = predict(params, z[unseen])
    log("  unseen, by generator (share classified right as valid/invalid):")
    generators = np.array([r["generator"] for r in records])[unseen]
    for g in sorted(set(generators)):
        mask = generators == g
        right = ((p_unseen[mask, 0] < 0.5) == (y[unseen][mask] != 0)).mean()
        log(f"    {g:<14} {right:.3f} of {mask.sum()}")

    date = datetime.date.today().isoformat()
    layers = [{"weights": params[0].tolist(), "bias": params[1].tolist()}]
    if args.hidden:
        layers.append({"weights": params[2].tolist(), "bias": params[3].tolist()})
    command = "python3 scripts/classifier/train.py" + "".join(
        f" --{k} {v}" for k, v in (("seed", args.seed), ("scale", args.scale), ("hidden", args.hidden),
                                   ("ensemble", args.ensemble), ("inputs", args.inputs))
        if v != parser.get_default(k))
    out = {
        "version": f"v{samples.GENERATOR_VERSION}-seed{args.seed}-{date}",
        "classes": classes,
        "embeddingModel": EMBEDDING_MODEL,
        "embeddingDimension": EMBEDDING_DIMENSION,
        "statistics": STATISTICS,
        "inputs": inputs,
        "mean": [round(float(v), 6) for v in mean],
        "scale": [round(float(v), 6) for v in scale],
        "layers": [{"weights": [[round(float(v), 6) for v in row] for row in layer["weights"]],
                    "bias": [round(float(v), 6) for v in layer["bias"]]} for layer in layers],
        "training": {
            "command": command, "seed": args.seed, "scale": args.scale, "generatorVersion": samples.GENERATOR_VERSION,
            "date": date, "l2": l2, "hidden": args.hidden, "ensemble": args.ensemble if args.hidden else 1, "heldOut": {k: sorted(v) for k, v in samples.HELD_OUT.items()},
            "samples": {name: int((split == name).sum()) for name in ("train", "validation", "test", "unseen")},
            "test": results["test"], "unseen": results["unseen"],
        },
    }
    with open(args.out, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    log(f"\nparameters: {os.path.relpath(args.out, REPO)} ({os.path.getsize(args.out) // 1024} KB)")


if __name__ == "__main__":
    main()
