"""experiments.ipynb runs top to bottom (NOTEBOOK_SMOKE=1: tiny sizes).

The notebook is its own source: edit it in Jupyter; no test compares it with anything, so a
student's edit fails only if a cell stops running. It runs in a Jupyter kernel named 'python3'.
jupyter_client resolves that name to the kernel spec of the ipykernel installed in the environment
that runs pytest (its kernel.json says `python`, which jupyter_client replaces by this interpreter),
so `pip install -r requirements.txt` into the venv is all it needs; no `ipykernel install` step.
The test checks that the kernel really is this environment's Python.
"""
import os
import sys

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, "experiments.ipynb")


@pytest.mark.slow
def test_notebook_runs_in_smoke_mode(monkeypatch, tmp_path):
    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        pytest.fail("no Jupyter kernel named 'python3': install ipykernel into the environment that runs "
                    "pytest (pip install -r requirements.txt)")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.prefix)"))   # which Python ran it
    monkeypatch.setenv("NOTEBOOK_SMOKE", "1")
    # The smoke models are tiny: one thread is as fast, and on a shared 2-core machine it avoids the
    # slowdown of oversubscribed OpenMP threads (the kernel inherits this environment).
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": ROOT}})
    client.execute()      # raises CellExecutionError (with the cell and its traceback) if a cell fails
    kernel_prefix = "".join(o.get("text", "") for o in nb.cells[-1].outputs).strip()
    assert os.path.realpath(kernel_prefix) == os.path.realpath(sys.prefix), \
        f"the 'python3' kernel ran {kernel_prefix}, not this environment ({sys.prefix})"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
