"""A forward that returns class indices, not logits."""
import torch.nn as nn

INPUT_SHAPE = (5,)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 3)

    def forward(self, x):
        return self.fc(x).argmax(dim=1)


def build_model():
    return Net()
