# Two commands do everything on a fresh machine (Python 3.11 with venv and pip):
#   make demo   create .venv, install requirements.txt, run the quick pipeline from the shipped weights
#   make test   create .venv, install requirements.txt, run the test suite (what .ci/run calls)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: demo paper paper-bf16 controls paper-fp32 findings sweep test test-all notebook ablation smoke weights bench assignment clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -r requirements.txt
	touch $@

# A first look in minutes: one seed, every method, both attacks and the positive control, from weights/
# (the pre-trained model, Retrain, the judge and, in float32, the four unlearned models of seed 0: no
# training at all where auto picks float32), with a lighter attack and fewer samples than make paper
# (100 steps, forget_acc on 50 samples at 0/50/100, 20 samples a retained class, 10 after an attack).
# Precision and device are chosen by measuring (lab/hardware.py: bf16 only on a CPU where it is clearly
# faster), one worker process per core as far as the memory allows -> results/mnist5k-quick-demo/
demo: $(VENV)/.installed
	$(PY) reproduce.py --seeds 0 --attack-steps 100 --eval-every 50 --n-forget 50 --n-retain 20 --n-after 10 \
		--positive-control --tag demo

# The committed headline (results/mnist5k-quick-headline/): three seeds from the shipped pre-trained model and
# judge, one Retrain a seed trained here with its own seed, the pre-trained model attacked too (the positive
# control), forget_acc also at steps 10, 25 and 50 (the relearning delay), float32 (what a CPU without
# AVX512-BF16 runs; the numbers depend on the precision), one worker per core
paper: $(VENV)/.installed
	$(PY) reproduce.py --seeds 0 1 2 --eval-at 10,25,50 --positive-control --precision float32 --tag headline

# The previous headline in bf16, every model trained from scratch -> results/mnist5k-quick-bf16/
paper-bf16: $(VENV)/.installed
	$(PY) reproduce.py --seeds 0 1 2 --from-scratch --tag bf16

# The controls (after make paper-bf16, whose stages it reuses): every method, ESD / SalUn / DiMUM at their other
# alpha, Retrain and the pre-trained model against every attack, 3 seeds -> results/mnist5k-quick-bf16-controls/;
# then DiMUM's memorisation against its budget, one seed, on one thread as the rows' workers (so that its
# curve is the headline DiMUM row up to the plateau stop) -> results/mnist5k-quick-bf16/memorisation/
controls: $(VENV)/.installed
	$(PY) reproduce.py --seeds 0 1 2 --from-scratch --tag bf16 --controls --positive-control --uncond 500 \
		--attacks dimra_retain,dimra_mixed,inversion,datafree --results mnist5k-quick-bf16-controls
	OMP_NUM_THREADS=1 $(PY) -m harness.research.memorisation --tag bf16 --from-scratch --seeds 0 --steps 500 --every 50

# The same in float32 from the shipped weights (CPUs without AVX512-BF16 / AMX) -> results/mnist5k-quick/
paper-fp32: $(VENV)/.installed
	$(PY) reproduce.py --seeds 0 1 2 --precision float32

# The mechanism experiments on the bf16 headline's models (after make paper-bf16; docs in results/mnist5k-quick-bf16/sweep/)
sweep: $(VENV)/.installed
	$(PY) -m harness.research.attack_sweep --tag bf16 --bf16 --from-scratch
	$(PY) -m harness.research.attack_sweep --tag bf16 --bf16 --from-scratch --aux mixed --share 0.01 --steps 300 --eval-every 50 --lrs 1e-4 1e-3
	$(PY) -m harness.research.attack_sweep --tag bf16 --bf16 --from-scratch --seeds 0 1 2 --lrs 1e-3 --rows salun,dimum,esd+retain

# docs/findings.md and the README's findings table, generated from the committed results
findings: $(VENV)/.installed
	$(PY) -m harness.findings

# The suite in two parts: `make test` (the README's test command: every unit, wiring and stage-key
# test, under 5 minutes on 2 cores) and `make test-all` (that, then the slow end-to-end runs and the
# CPU measurements, natively and again under AVX2-only kernels, as on a laptop without AVX-512).
test: $(VENV)/.installed
	$(PY) -m pytest -q -m "not slow and not hardware"

test-all: test
	$(PY) -m pytest -q -m "slow or hardware"
	ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 $(PY) -m pytest -q -m hardware

notebook: $(VENV)/.installed
	$(PY) -m pip install jupyterlab
	$(VENV)/bin/jupyter lab experiments.ipynb

ablation: $(VENV)/.installed
	$(PY) reproduce.py --ablation --seeds 0 --eval-every 100

smoke: $(VENV)/.installed
	$(PY) reproduce.py --smoke --seeds 0

# Retrain the shipped models with train.py (about 15 min on 2 CPU cores) and export them to weights/
weights: $(VENV)/.installed
	$(PY) train.py ddpm --preset mnist5k-quick
	$(PY) train.py ddpm --preset mnist5k-quick --exclude-class 0 --seed 1000   # Retrain: its own seed (harness/settings.py)
	$(PY) train.py judge --dataset mnist5k --image-size 16
	$(PY) -m tools.ship_weights

bench: $(VENV)/.installed
	$(PY) -m pip install -r tools/requirements-bench.txt
	$(PY) -m tools.bench --preset mnist5k-quick

# A student copy with the unlearning losses, the DDIM step and the DiMRA loop to implement (course/README.md)
assignment: $(VENV)/.installed
	$(PY) -m course.assignment make ../unlearning-assignment
	$(PY) -m course.assignment documents ../unlearning-documents

# The instructor's side of the course (course/README.md): the Gradescope autograder zip, grading
# submission folders (make grade SUBMISSIONS="subs/*/" -> grades.csv, git-ignored) and the full self-check (minutes)
.PHONY: autograder grade self-check
autograder: $(VENV)/.installed
	$(PY) -m course.assignment autograder ../unlearning-autograder.zip
grade: $(VENV)/.installed
	$(PY) -m course.assignment grade $(SUBMISSIONS) --csv grades.csv
self-check: $(VENV)/.installed
	$(PY) -m course.assignment self-check

clean:
	rm -rf runs/*-smoke results/*-smoke .pytest_cache
