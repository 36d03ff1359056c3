"""A model with no parameters at all."""
import torch.nn as nn

INPUT_SHAPE = (3, 8, 8)


def build_model():
    return nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.ReLU())
