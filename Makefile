# Loupe: two commands on a fresh Debian machine.
#   make run    install what is missing, build (release), start the node on ./loupe-data
#   make test   install what the tests need, build, run unit tests and the conformance suite

SWIFT ?= swift
DATA ?= ./loupe-data

.PHONY: run test deps test-deps build build-debug unit conformance bench clean

deps:
	scripts/install-deps.sh runtime

test-deps:
	scripts/install-deps.sh test

build: deps
	$(SWIFT) build -c release --product loupe

run: build
	.build/release/loupe serve --data $(DATA)

build-debug: test-deps
	$(SWIFT) build --build-tests

unit: build-debug
	$(SWIFT) test --skip-build

conformance: build-debug
	LOUPE_BIN=$$($(SWIFT) build --show-bin-path)/loupe python3 -m pytest -q conformance

test: unit conformance

bench: build
	python3 bench/ingest/run.py

clean:
	rm -rf .build
