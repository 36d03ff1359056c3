import torch.nn as nn

def build_model(:
    return nn.Linear(2, 2)
