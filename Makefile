# Two commands for a newcomer: `make demo` (run balise on the bundled sample) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
SAMPLE_INDEX = var/sample-index
SAMPLE_POI = var/sample-poi

.PHONY: demo test setup lint bench scale clean

# The compiled core is rebuilt when a .pyx changes.
PYX := $(wildcard src/balise/*/_*.pyx)

# The runtime alone (what `make demo` needs); the test extra (linters, checkov, selenium, Parquet,
# Dask...) only for `make test` and `make setup`.
$(BIN)/balise: pyproject.toml setup.py $(PYX)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

TEST_DEPS = $(VENV)/.test-extra
$(TEST_DEPS): $(BIN)/balise pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(TEST_DEPS)

$(SAMPLE_INDEX)/manifest.json: $(BIN)/balise data/sample/paris-centre.ndjson.gz src/balise/index/format.py
	$(BIN)/balise import --quiet --index $(SAMPLE_INDEX) data/sample/paris-centre.ndjson.gz

$(SAMPLE_POI)/manifest.json: $(BIN)/balise data/sample/poi-paris.ndjson.gz src/balise/index/format.py
	$(BIN)/balise import --quiet --index $(SAMPLE_POI) data/sample/poi-paris.ndjson.gz

## Set up, index the bundled sample (Paris 1st-4th arrondissements, Paris's POIs), serve it on :7878.
demo: $(SAMPLE_INDEX)/manifest.json $(SAMPLE_POI)/manifest.json
	$(BIN)/balise search --index $(SAMPLE_INDEX) --limit 1 "34 rue de rivoli paris"
	@echo "Serving on http://127.0.0.1:7878 - open the search page http://127.0.0.1:7878/ or try:"
	@echo "  curl 'http://127.0.0.1:7878/search/?q=place+des+vosg&limit=3'"
	@echo "  curl 'http://127.0.0.1:7878/reverse/?lat=48.8566&lon=2.3522'"
	@echo "  curl 'http://127.0.0.1:7878/geocodage/search?q=mairie+paris&index=address,poi&limit=3'"
	$(BIN)/balise serve --index $(SAMPLE_INDEX) --poi-index $(SAMPLE_POI) --port 7878

## Set up, lint, type-check and run the whole test suite (needs ../shared/data beside the repo).
test: $(TEST_DEPS)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

## Speed and accuracy side by side with Addok 1.3.2 (installs it in .bench/, needs redis-server).
bench: $(TEST_DEPS)
	$(BIN)/balise import --quiet --index .bench/balise-index ../shared/data/addok-ndjson/*.ndjson.gz
	$(BIN)/python bench/throughput.py --index .bench/balise-index
	$(BIN)/python bench/accuracy.py --index .bench/balise-index --addok --out .bench/accuracy.md
	$(BIN)/python bench/http_load.py --index .bench/balise-index
	$(BIN)/balise make-poi .bench/poi.ndjson.gz --communes ../shared/data/communes \
	    --points ../shared/data/eval/official-points-dev.csv
	$(BIN)/balise import --quiet --index .bench/poi-index .bench/poi.ndjson.gz
	$(BIN)/python bench/geocodage_load.py --index .bench/balise-index --poi-index .bench/poi-index

## France-scale figures: the stand-in at scales 0.03, 0.3 and 1, imported and searched (long).
scale: $(TEST_DEPS)
	$(BIN)/python bench/scale.py --json .bench/scale.json

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
