"""The lab: the machinery around the paper's mathematics, kept out of ddpm/, unlearn/, attack/ and metrics/.

    hardware.py     which device, which precision (measured on the CPU), how many threads
    cli.py          command-line flags read from a config dataclass; one-line errors
    checkpoint.py   atomic checkpoints, shipped safetensors weights and their sidecars
    presets.py      the named sizes of a run (mnist5k-quick, mnist, cifar10, ...)
    pretrain.py     the resumable pre-training run of `train.py ddpm`, and loading a DDPM back
    distributed.py  several GPUs under torchrun
    judges.py       the judge's files: where it is found, training it to a file, loading it

A student who wants the method reads ddpm/ (schedule, UNet, loss, samplers, the loop), unlearn/,
attack/ and metrics/; nothing there imports this package, except the packages' own command lines
(`python -m unlearn`, `python -m attack`). tests/test_layering.py holds the rule.
"""
