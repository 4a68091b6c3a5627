"""Journey generators behind one interface: DP GAN, DP VAE, SDV PAR baseline."""

import generators.par  # noqa: F401
from generators.base import REGISTRY, SequenceGenerator, create, load, register

__all__ = ["REGISTRY", "SequenceGenerator", "create", "load", "register"]
