"""Journey generators behind one interface: DP GAN, DP VAE, SDV PAR baseline."""

from journeylab.generators import gan, par, vae  # noqa: F401  (register "gan", "par" and "vae")
from journeylab.generators.base import (
    REGISTRY,
    SequenceGenerator,
    create,
    load,
    register,
    sample_to_parquet,
)

__all__ = ["REGISTRY", "SequenceGenerator", "create", "load", "register", "sample_to_parquet"]
