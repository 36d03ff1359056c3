"""A module-level model with a Lazy layer, built at import (the prebuilt path)."""
import torch.nn as nn

INPUT_SHAPE = (12,)
model = nn.Sequential(nn.LazyLinear(6), nn.ReLU(), nn.LazyLinear(3))
