# Two commands do everything on a fresh machine (Python 3.11 with venv and pip):
#   make demo   create .venv, install requirements.txt, run the main job (reproduce.py, mnist5k-quick)
#   make test   create .venv, install requirements.txt, run the test suite (what .ci/run calls)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: demo test ablation smoke bench clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -r requirements.txt
	touch $@

demo: $(VENV)/.installed
	$(PY) reproduce.py

test: $(VENV)/.installed
	$(PY) -m pytest -q

ablation: $(VENV)/.installed
	$(PY) reproduce.py --ablation --seeds 0

smoke: $(VENV)/.installed
	$(PY) reproduce.py --smoke --seeds 0

bench: $(VENV)/.installed
	$(PY) -m pip install -r requirements-bench.txt
	$(PY) bench.py --preset mnist5k-quick

clean:
	rm -rf runs/*-smoke results/*-smoke .pytest_cache
